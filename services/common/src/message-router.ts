/**
 * Routing of private and group messages, shared by cim-route's HTTP API (/p2pRoute, /groupRoute) and
 * cim-server's in-band MESSAGE frames, so both paths behave the same (docs/delivery.md):
 *
 * - private: the receiver's account must exist (7300), the message is appended to the receiver's inbox
 *   (7200 when the store fails: nothing was promised), and only then is it SENT; the live push comes
 *   after and never decides storage. The entry leaves the inbox when the receiver acknowledges it.
 * - group ("everyone online", CIM's group chat): live only, at most once; one broadcast push per live
 *   server, never one call per user and never a Redis scan.
 * - named group (sendToGroup, groups/fan-out.ts): like private, into every other member's inbox, in gseq order.
 * - receipts: best effort, live, to the sender's server.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from './clock.ts';
import { Codes, type WireCode } from './codes.ts';
import { Prop, type ReceiptStatus } from './codec.ts';
import { privateConversation, type HistoryLimits, type HistoryStore } from './history/types.ts';
import type { AppendResult, DeviceInboxStore, InboxEntry, InboxLimits, InboxMessage, InboxStore } from './inbox/types.ts';
import { asDeviceInbox } from './inbox/devices.ts';
import { RouteCache } from './route-cache.ts';
import type { Logger } from './log.ts';
import { inboxEntryProperties } from './message-props.ts';
import type { Attachment } from './files/attachment.ts';
import type { MetaStore } from './meta-store/types.ts';
import type { PushTransport } from './push.ts';
import { sendToNamedGroup, type GroupSent } from './groups/fan-out.ts';
import type { GroupStore } from './groups/types.ts';
import type { ContactStore } from './contacts/types.ts';
import type { Account } from './route-store/account-store.ts';

/** Who exists and where they are connected (RouteStore, or its account/presence parts). */
export interface RouterDirectory {
  getAccount(userId: number): Promise<Account | undefined>;
  getRoute(userId: number): Promise<string | undefined>;
}

export interface Sender {
  readonly userId: number;
  readonly userName: string;
  /**
   * --login-policy multi, in-band sends: the sending session's device. Its user's other devices get a
   * carbon copy (docs/delivery.md "Several devices"); absent = no carbon copies.
   */
  readonly device?: string | undefined;
}

export interface MessageRouterOptions {
  readonly directory: RouterDirectory;
  readonly inbox: InboxStore;
  readonly meta: MetaStore;
  readonly push: PushTransport;
  readonly clock: Clock;
  readonly log: Logger;
  readonly limits: InboxLimits;
  /** entries dropped from full inboxes (lost; for cim_inbox_dropped_total) */
  readonly onDropped?: (count: number) => void;
  /** server-side history of conversations (--history-max 0 turns it off: absent) */
  readonly history?: { readonly store: HistoryStore; readonly limits: HistoryLimits } | undefined;
  /** history appends that failed (for cim_history_failed_total) */
  readonly onHistoryFailed?: () => void;
  /** appends refused by a bound (per-sender: --inbox-max-per-sender; for cim_inbox_refused_total) */
  readonly onRefused?: (reason: NonNullable<AppendResult['refused']>) => void;
  /** named groups (groups/fan-out.ts); absent: every group send is refused with 7330 */
  readonly groups?: GroupStore | undefined;
  /** "only contacts may message me" (contacts/types.ts); absent: everyone may */
  readonly contacts?: Pick<ContactStore, 'allows' | 'settings'> | undefined;
}

export interface OutgoingMessage {
  readonly text: string;
  /** the sender's id of the message; chosen here when absent */
  readonly msgId?: string | undefined;
  /** a private file message's file (files/attachment.ts); kept in the inbox, not in history (its text says it) */
  readonly attachment?: Attachment | undefined;
}

/** A stored private message: SENT. `push()` then tries the live delivery; true when a session got it. */
export interface PrivateSent {
  readonly msgId: string;
  readonly seq: number;
  readonly duplicate: boolean;
  /** the receiver had a route (was online somewhere) when the message was stored */
  readonly online: boolean;
  push(): Promise<boolean>;
}

/** A send that failed with a catalogue code (7300 unknown receiver, 7200 store unavailable). */
export class DeliveryError extends Error {
  readonly wire: WireCode;
  constructor(wire: WireCode, detail: string, options?: ErrorOptions) {
    super(`${wire.code} ${wire.message}: ${detail}`, options);
    this.name = 'DeliveryError';
    this.wire = wire;
  }
}

export const MSG_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

const ACCOUNT_CACHE_MAX = 100_000;
const ACCOUNT_CACHE_TTL_MS = 60_000;
/** How long a receiver's "only contacts: off" is trusted: the bound on how late turning it on takes effect. */
export const OPEN_INBOX_TTL_MS = 1_000;

export class MessageRouter {
  readonly #o: MessageRouterOptions;
  readonly #inbox: DeviceInboxStore;
  /** receivers' servers, remembered for a few seconds and corrected by the pushes (route-cache.ts) */
  readonly #routes: RouteCache;

  /** receivers whose "only contacts" setting was off, until when (ms) */
  readonly #openInboxes = new Map<number, number>();

  /** accounts found, until when (ms): saves a Redis round trip per message for its receiver and, on the route, its sender */
  readonly #accounts = new Map<number, { readonly account: Account; readonly until: number }>();

  constructor(options: MessageRouterOptions) {
    this.#o = options;
    this.#inbox = asDeviceInbox(options.inbox);
    this.#routes = new RouteCache((userId) => options.directory.getRoute(userId), options.clock);
  }

  /**
   * The account of `userId`, remembered for a minute once found: accounts are never deleted and names never
   * change. An unknown id is asked again every time, so an account registered since is found at once.
   * @throws when the directory fails
   */
  async account(userId: number): Promise<Account | undefined> {
    const known = this.#accounts.get(userId);
    if (known && known.until > this.#o.clock.now()) return known.account;
    const account = await this.#o.directory.getAccount(userId);
    if (!account) return undefined;
    // Bounded: past the cap the oldest entries go (Map keeps insertion order).
    if (this.#accounts.size >= ACCOUNT_CACHE_MAX) this.#accounts.delete(this.#accounts.keys().next().value!);
    this.#accounts.delete(userId);
    this.#accounts.set(userId, { account, until: this.#o.clock.now() + ACCOUNT_CACHE_TTL_MS });
    return account;
  }

  /**
   * Stores a private message in the receiver's inbox. @throws DeliveryError (7300, 7200, 7310); nothing was
   * stored then. Appending the same (sender, msgId) again returns the seq it already has.
   */
  async sendPrivate(from: Sender, to: number, message: OutgoingMessage): Promise<PrivateSent> {
    const msgId = message.msgId ?? randomUUID();
    let receiver: { userId: number } | undefined;
    try {
      receiver = await this.account(to);
    } catch (err) {
      throw new DeliveryError(Codes.STORE_UNAVAILABLE, 'account lookup failed', { cause: err });
    }
    if (!receiver) throw new DeliveryError(Codes.RECEIVER_UNKNOWN, `no user ${to}`);
    let allowed = true;
    try {
      allowed = await this.#allows(to, from.userId);
    } catch (err) {
      throw new DeliveryError(Codes.STORE_UNAVAILABLE, 'contacts lookup failed', { cause: err });
    }
    if (!allowed) throw new DeliveryError(Codes.CONTACTS_ONLY, `user ${to} accepts messages from contacts only`);
    const stored = { msgId, from: { userId: from.userId, userName: from.userName }, text: message.text, sentAt: this.#o.clock.now(), chatType: 'private' as const, ...(message.attachment ? { attachment: message.attachment } : {}) };
    let appended;
    try {
      appended = await this.#o.inbox.append(to, stored, this.#o.limits);
    } catch (err) {
      throw new DeliveryError(Codes.STORE_UNAVAILABLE, 'inbox append failed', { cause: err });
    }
    if (appended.refused) {
      this.#o.onRefused?.(appended.refused);
      throw new DeliveryError(Codes.INBOX_SENDER_LIMIT, `sender ${from.userId} holds the most pending messages allowed in the inbox of ${to}`);
    }
    if (appended.dropped > 0) this.#o.onDropped?.(appended.dropped);
    await this.#keepInHistory(to, stored);
    const carbon = from.device === undefined ? undefined : await this.#storeCarbon(from, { ...stored, carbonTo: to });
    // The route is only looked up after storing: the message is safe whatever happens now.
    const server = await this.#routes.get(to).catch((err: unknown) => {
      this.#o.log.warn({ err, to }, 'route lookup failed; the message waits in the inbox');
      return undefined;
    });
    const entry: InboxEntry = { ...stored, seq: appended.seq };
    return {
      msgId,
      seq: appended.seq,
      duplicate: appended.duplicate,
      online: server !== undefined,
      // A duplicate is pushed again too: the first attempt may have stored it and died before its push.
      push: async () => {
        const [delivered] = await Promise.all([server === undefined ? false : this.#pushEntry(server, to, entry), carbon?.push()]);
        return delivered;
      },
    };
  }

  /**
   * A carbon copy of the sender's own message into its other devices' inboxes (--login-policy multi). Not a
   * delivery promise: the message is already SENT, so a failure is logged, never turns the send into a failure.
   * No per-sender bound: a user's own copies must never refuse the user's sends.
   */
  async #storeCarbon(from: Sender, message: InboxMessage): Promise<{ entry: InboxEntry; push(): Promise<void> } | undefined> {
    try {
      const { maxPerSender: _, ...limits } = this.#o.limits;
      const r = await this.#inbox.append(from.userId, message, limits, { exceptDevice: from.device ?? '' });
      if (r.refused) return undefined;
      if (r.dropped > 0) this.#o.onDropped?.(r.dropped);
      const entry: InboxEntry = { ...message, seq: r.seq };
      return { entry, push: () => this.#pushCarbon(from, entry) };
    } catch (err) {
      this.#o.log.warn({ err, userId: from.userId, msgId: message.msgId }, 'carbon copy not stored; the other devices see the message in the history');
      return undefined;
    }
  }

  async #pushCarbon(from: Sender, entry: InboxEntry): Promise<void> {
    const server = await this.#routes.get(from.userId).catch(() => undefined);
    if (server === undefined) return;
    const { error } = await this.#routes.deliver(from.userId, server, (s) => this.#o.push.push(s, { receivers: [from.userId], msg: entry.text, properties: inboxEntryProperties(entry), exceptDevice: from.device ?? '' }));
    if (error !== undefined) this.#o.log.debug({ err: error, userId: from.userId }, 'carbon copy not pushed; it waits in the devices\' inboxes');
  }

  /**
   * "Only contacts may message me": a receiver found with the setting off is not asked again for
   * OPEN_INBOX_TTL_MS (one Redis round trip less per message of a busy conversation); turning it on takes
   * effect within that time.
   */
  async #allows(to: number, from: number): Promise<boolean> {
    const contacts = this.#o.contacts;
    if (!contacts) return true;
    const now = this.#o.clock.now();
    if ((this.#openInboxes.get(to) ?? 0) > now) return true;
    if (!(await contacts.settings(to)).onlyContacts) {
      if (this.#openInboxes.size >= ACCOUNT_CACHE_MAX) this.#openInboxes.delete(this.#openInboxes.keys().next().value!);
      this.#openInboxes.set(to, now + OPEN_INBOX_TTL_MS);
      return true;
    }
    this.#openInboxes.delete(to);
    return contacts.allows(to, from);
  }

  /**
   * History is the conversation's record, not a delivery promise: a failure is logged and counted, never turns a
   * stored message into a failed send. Retries append again (also duplicates of the inbox: the first try may
   * have died between the two stores); the history's id index keeps it once.
   */
  async #keepInHistory(to: number, stored: { msgId: string; from: Sender; text: string; sentAt: number }): Promise<void> {
    const history = this.#o.history;
    if (!history) return;
    try {
      await history.store.append(privateConversation(stored.from.userId, to), { msgId: stored.msgId, from: stored.from, to, text: stored.text, sentAt: stored.sentAt }, history.limits);
    } catch (err) {
      this.#o.onHistoryFailed?.();
      this.#o.log.warn({ err, to, msgId: stored.msgId }, 'history append failed; the message is stored and delivered, not in the history');
    }
  }

  /** Starts the push synchronously (per-sender order: see MessageHandler); a moved receiver is followed once. */
  async #pushEntry(server: string, to: number, entry: InboxEntry): Promise<boolean> {
    const { delivered, error } = await this.#routes.deliver(to, server, (s) => this.#o.push.push(s, { receivers: [to], msg: entry.text, properties: inboxEntryProperties(entry) }));
    // Stored already: it arrives at the next login or SYNC. A timed-out push may also have been shown.
    if (error !== undefined) this.#o.log.warn({ err: error, server, to, seq: entry.seq }, 'live push failed; the message stays in the inbox');
    return delivered;
  }

  /**
   * A named group's message, into every other member's inbox (same msgId, one gseq), SENT after all appends;
   * `push()` then delivers live, one push per server. @throws DeliveryError (7330, 7320, 7200).
   */
  sendToGroup(from: Sender, groupId: number, message: OutgoingMessage): Promise<GroupSent> {
    const groups = this.#o.groups;
    if (!groups) return Promise.reject(new DeliveryError(Codes.GROUP_UNKNOWN, 'named groups are not configured here'));
    return sendToNamedGroup({ ...this.#o, groups, routes: this.#routes, carbon: (m) => this.#storeCarbon(from, { ...m, carbonTo: groupId }) }, from, groupId, message);
  }

  /** Broadcasts to everyone online except the sender; returns how many receivers it reached. */
  async sendGroup(from: Sender, message: OutgoingMessage): Promise<number> {
    const properties: Record<string, string> = {
      [Prop.sendUserId]: String(from.userId),
      [Prop.sendUserName]: from.userName,
      [Prop.sentAt]: String(this.#o.clock.now()),
      [Prop.chatType]: 'group',
      [Prop.msgId]: message.msgId ?? randomUUID(),
    };
    const results = await Promise.allSettled(
      this.#o.meta.servers().map((s) => this.#o.push.push(s.id, { broadcast: true, excludeUserIds: [from.userId], msg: message.text, properties })),
    );
    let delivered = 0;
    for (const r of results) {
      if (r.status === 'fulfilled') delivered += r.value.delivered;
      else this.#o.log.warn({ err: r.reason }, 'group push to a server failed; the other servers were still served');
    }
    return delivered;
  }

  /**
   * Best effort: a receipt to the sessions of `to` (the sender of the messages), live, never stored. With
   * `self`, a read receipt goes to the reader's own other devices instead (--login-policy multi): `by` is the
   * reader, `self.sender` whose messages were read, and the reading device is skipped.
   */
  async sendReceipt(to: number, status: ReceiptStatus, by: number, msgIds: readonly string[], self?: { readonly sender: number; readonly exceptDevice: string }): Promise<boolean> {
    if (msgIds.length === 0) return false;
    const server = await this.#routes.get(to).catch(() => undefined);
    if (server === undefined) return false;
    const { delivered, error } = await this.#routes.deliver(to, server, (s) =>
      this.#o.push.push(s, {
        receivers: [to],
        cmd: 'RECEIPT',
        batchMsg: msgIds,
        properties: { [Prop.status]: status, [Prop.receiveUserId]: String(by), ...(self ? { [Prop.sendUserId]: String(self.sender) } : {}) },
        ...(self ? { exceptDevice: self.exceptDevice } : {}),
      }),
    );
    if (error !== undefined) this.#o.log.debug({ err: error, to, status }, 'receipt not pushed (best effort)');
    return delivered;
  }
}

export type { WireCode };
