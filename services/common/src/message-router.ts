/**
 * Routing of private and group messages, shared by cim-route's HTTP API and cim-server's in-band
 * MESSAGE frames, so both paths behave the same.
 *
 * Delivery is at most once to a connected receiver; a private message whose receiver is offline (no
 * route, or not connected where the route says) is stored and delivered at the receiver's next
 * /fetchOfflineMsgs. Group messages ("everyone online", CIM's group chat) go out as one broadcast
 * push per live server, never one call per user and never a Redis scan.
 */
import type { Clock } from './clock.ts';
import type { Logger } from './log.ts';
import type { MetaStore } from './meta-store/types.ts';
import type { PushTransport, PushCommand } from './push.ts';
import type { Account, OfflineMessage, RouteStore } from './route-store/types.ts';

export interface MessageRouterOptions {
  readonly store: RouteStore;
  readonly meta: MetaStore;
  readonly push: PushTransport;
  readonly clock: Clock;
  readonly log: Logger;
  readonly offlineTtlMs: number;
  readonly offlineMaxPerUser: number;
}

export type PrivateResult = 'delivered' | 'offline';

export interface OutgoingMessage {
  readonly msg?: string;
  readonly batchMsg?: readonly string[];
  readonly msgId?: string;
}

export const OFFLINE_FETCH_BATCH = 100;

export class MessageRouter {
  readonly #o: MessageRouterOptions;

  constructor(options: MessageRouterOptions) {
    this.#o = options;
  }

  #properties(from: Account, message: OutgoingMessage, chatType: 'private' | 'group'): Record<string, string> {
    const props: Record<string, string> = {
      sendUserId: String(from.userId),
      sendUserName: from.userName,
      sentAt: String(this.#o.clock.now()),
      chatType,
    };
    if (message.msgId) props['msgId'] = message.msgId;
    return props;
  }

  async sendPrivate(from: Account, to: number, message: OutgoingMessage): Promise<PrivateResult> {
    const properties = this.#properties(from, message, 'private');
    const server = await this.#o.store.getRoute(to);
    if (server !== undefined) {
      try {
        const result = await this.#o.push.push(server, {
          receivers: [to],
          ...(message.msg !== undefined ? { msg: message.msg } : {}),
          ...(message.batchMsg !== undefined ? { batchMsg: message.batchMsg } : {}),
          properties,
        });
        if (result.delivered > 0) return 'delivered';
      } catch (err) {
        this.#o.log.warn({ err, server, to }, 'private push failed; storing offline');
      }
    }
    const texts = message.batchMsg && message.batchMsg.length > 0 ? message.batchMsg : message.msg !== undefined ? [message.msg] : [];
    const createdAt = this.#o.clock.now();
    for (const msg of texts) {
      await this.#o.store.saveOffline(to, { msg, properties: { ...properties, receiveUserId: String(to) }, createdAt }, this.#o.offlineTtlMs, this.#o.offlineMaxPerUser);
    }
    return 'offline';
  }

  /** Broadcasts to everyone online except the sender; returns how many receivers it reached. */
  async sendGroup(from: Account, message: OutgoingMessage): Promise<number> {
    const properties = this.#properties(from, message, 'group');
    const results = await Promise.allSettled(
      this.#o.meta.servers().map((s) =>
        this.#o.push.push(s.id, {
          broadcast: true,
          excludeUserIds: [from.userId],
          ...(message.msg !== undefined ? { msg: message.msg } : {}),
          properties,
        }),
      ),
    );
    let delivered = 0;
    for (const r of results) {
      if (r.status === 'fulfilled') delivered += r.value.delivered;
      else this.#o.log.warn({ err: r.reason }, 'group push to a server failed; the other servers were still served');
    }
    return delivered;
  }

  /**
   * Pushes stored offline messages to the user's server, oldest first, as OFFLINE frames; each frame
   * batches consecutive messages of one sender so that every message keeps its own sender.
   * Messages that cannot be pushed are put back. Returns how many were delivered.
   */
  async deliverOffline(userId: number): Promise<number> {
    const server = await this.#o.store.getRoute(userId);
    if (server === undefined) return 0;
    let delivered = 0;
    for (;;) {
      const taken = await this.#o.store.takeOffline(userId, OFFLINE_FETCH_BATCH);
      if (taken.length === 0) return delivered;
      const groups = groupBySender(taken);
      for (let i = 0; i < groups.length; i++) {
        const group = groups[i]!;
        let ok = false;
        try {
          const cmd: PushCommand = 'OFFLINE';
          const result = await this.#o.push.push(server, { receivers: [userId], batchMsg: group.map((m) => m.msg), cmd, properties: { ...group[0]!.properties } });
          ok = result.delivered > 0;
        } catch (err) {
          this.#o.log.warn({ err, server, userId }, 'offline push failed');
        }
        if (!ok) {
          await this.#o.store.restoreOffline(userId, groups.slice(i).flat(), this.#o.offlineTtlMs);
          return delivered;
        }
        delivered += group.length;
      }
    }
  }
}

function groupBySender(messages: readonly OfflineMessage[]): OfflineMessage[][] {
  const groups: OfflineMessage[][] = [];
  for (const m of [...messages].sort((a, b) => a.createdAt - b.createdAt)) {
    const last = groups.at(-1);
    if (last && last[0]!.properties['sendUserId'] === m.properties['sendUserId']) last.push(m);
    else groups.push([m]);
  }
  return groups;
}
