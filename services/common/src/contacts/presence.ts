/**
 * Presence events (docs/delivery.md "Contacts and presence"): a cim-server announces its users online at login
 * and offline when their session ends (logout, eviction, close); a crashed server announces nothing, so every
 * server sweeps the presence journal each PRESENCE_SWEEP_MS for announcements naming a server that has left
 * ZooKeeper, and announces those users offline. The journal's scripts let exactly one caller win each change,
 * so each transition gives one event. Each event is a PRESENCE frame pushed, best effort and live, to the
 * sessions of the user's watchers, one push per server: those who have the user as a contact, and the other
 * members of the user's named groups of at most `groupPresenceMax` members (a bigger group would turn every
 * login into that many pushes; its members see presence through contacts).
 */
import type { Clock } from '../clock.ts';
import { Prop } from '../codec.ts';
import type { Logger } from '../log.ts';
import type { RouterDirectory } from '../message-router.ts';
import type { MetaStore } from '../meta-store/types.ts';
import type { PushTransport } from '../push.ts';
import type { GroupStore } from '../groups/types.ts';
import type { ContactStore } from './types.ts';

/** How often a server looks for the users of crashed servers: the crash bound is the ZooKeeper session timeout plus this. */
export const PRESENCE_SWEEP_MS = 1000;

export interface PresenceNotifierOptions {
  readonly contacts: ContactStore;
  readonly directory: RouterDirectory;
  readonly meta: Pick<MetaStore, 'servers' | 'isReady'>;
  readonly push: PushTransport;
  readonly clock: Clock;
  readonly log: Logger;
  /** this server's id, read at each use (known only once it listens) */
  readonly selfId: () => string;
  /** named groups whose members also watch each other (absent: contacts only) */
  readonly groups?: Pick<GroupStore, 'mine' | 'members'> | undefined;
  /** groups with more members than this give no presence events to their members (--group-presence-max; 0 = none) */
  readonly groupPresenceMax?: number;
}

export class PresenceNotifier {
  readonly #o: PresenceNotifierOptions;
  #sweeping = false;

  constructor(options: PresenceNotifierOptions) {
    this.#o = options;
  }

  /** A user logged in on this server. Never throws (best effort). */
  async online(userId: number, userName: string): Promise<void> {
    try {
      if (await this.#o.contacts.announceOnline(userId, this.#o.selfId())) await this.#notify(userId, userName, true);
    } catch (err) {
      this.#o.log.warn({ err, userId }, 'presence: online event not sent');
    }
  }

  /** A user's session on this server ended. Never throws (best effort). */
  async offline(userId: number, userName: string): Promise<void> {
    try {
      if (await this.#o.contacts.announceOffline(userId, this.#o.selfId())) await this.#notify(userId, userName, false);
    } catch (err) {
      this.#o.log.warn({ err, userId }, 'presence: offline event not sent');
    }
  }

  /** Announces offline the users of servers no longer in ZooKeeper; returns how many. Never throws. */
  async sweep(): Promise<number> {
    // A disconnected ZooKeeper view is not evidence of anything: sweep only on a live, non-empty list.
    if (this.#sweeping || !this.#o.meta.isReady()) return 0;
    const live = new Set(this.#o.meta.servers().map((s) => s.id));
    if (live.size === 0) return 0;
    this.#sweeping = true;
    let count = 0;
    try {
      for (const server of await this.#o.contacts.announcedServers()) {
        if (live.has(server) || server === this.#o.selfId()) continue;
        for (const userId of await this.#o.contacts.announcedOn(server)) {
          // Already routed to a live server: that server's login moves the announcement, no event.
          const route = await this.#o.directory.getRoute(userId);
          if (route !== undefined && route !== server && live.has(route)) continue;
          if (!(await this.#o.contacts.announceOffline(userId, server))) continue;
          count++;
          const account = await this.#o.directory.getAccount(userId);
          await this.#notify(userId, account?.userName ?? '', false);
        }
      }
    } catch (err) {
      this.#o.log.warn({ err }, 'presence sweep failed; retried at the next tick');
    } finally {
      this.#sweeping = false;
    }
    return count;
  }

  /** Who hears of `userId`'s presence: its contacts' owners and the members of its small groups, once each. */
  async #watchersOf(userId: number): Promise<number[]> {
    const watchers = new Set(await this.#o.contacts.watchers(userId));
    const max = this.#o.groupPresenceMax ?? 0;
    if (this.#o.groups && max > 0) {
      const groups = this.#o.groups;
      const memberLists = await Promise.all((await groups.mine(userId)).map((g) => groups.members(g.groupId)));
      for (const members of memberLists) {
        if (members && members.length <= max) for (const m of members) watchers.add(m.userId);
      }
    }
    watchers.delete(userId);
    return [...watchers];
  }

  async #notify(userId: number, userName: string, online: boolean): Promise<void> {
    const watchers = await this.#watchersOf(userId);
    if (watchers.length === 0) return;
    const routes = await Promise.all(watchers.map((w) => this.#o.directory.getRoute(w)));
    const byServer = new Map<string, number[]>();
    watchers.forEach((w, i) => {
      const server = routes[i];
      if (server !== undefined) byServer.set(server, [...(byServer.get(server) ?? []), w]);
    });
    const properties = { [Prop.sendUserId]: String(userId), [Prop.sendUserName]: userName, [Prop.online]: online ? '1' : '0', [Prop.sentAt]: String(this.#o.clock.now()) };
    await Promise.all([...byServer].map(([server, receivers]) =>
      this.#o.push.push(server, { receivers, cmd: 'PRESENCE', msg: '', properties }).catch((err: unknown) => this.#o.log.debug({ err, server, userId }, 'presence push failed (best effort)'))));
  }
}
