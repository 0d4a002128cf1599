/**
 * InboxStore: each user's acknowledged inbox of private messages (docs/delivery.md).
 *
 * Guarantees, for every backend:
 * - append is idempotent by (from.userId, msgId): appending the same pair again stores nothing and
 *   returns the seq it already has, with duplicate = true (also after the entry was acknowledged,
 *   as long as the id index keeps it: 2 × maxEntries appends).
 * - seq is per user, starts at 1 and increases by exactly 1 per stored (non-duplicate) append.
 * - an entry leaves the inbox only when acknowledged, when the inbox exceeds maxEntries (oldest first,
 *   counted in AppendResult.dropped) or when the inbox expires ttlMs after its last append.
 * - with limits.maxPerSender, one sender holds at most min(maxPerSender, maxEntries) pending entries in one
 *   inbox: a further append is refused (refused = 'per-sender', nothing stored, no seq used), so one sender
 *   can never fill the inbox and push the other senders' messages out. Acks, drops and expiry free room.
 * - pending returns entries in seq order.
 */

import type { Attachment } from '../files/attachment.ts';

export interface InboxMessage {
  readonly msgId: string;
  readonly from: { readonly userId: number; readonly userName: string };
  readonly text: string;
  /** ms since epoch, when the first hop accepted it */
  readonly sentAt: number;
  readonly chatType: 'private' | 'group';
  /** named-group messages (chatType 'group'): the group, and the message's place in it (docs/delivery.md "Named groups") */
  readonly groupId?: number;
  readonly gseq?: number;
  /** a private file message's file (files/attachment.ts, docs/delivery.md "File messages") */
  readonly attachment?: Attachment;
  /**
   * a carbon copy of what the user sent from another device (--login-policy multi): the conversation's other
   * end, the receiver's userId of a private message or the groupId of a named group's (chatType says which)
   */
  readonly carbonTo?: number;
}

export interface InboxEntry extends InboxMessage {
  readonly seq: number;
}

export interface InboxLimits {
  readonly maxEntries: number;
  readonly ttlMs: number;
  /** most pending entries of one sender in one inbox (capped at maxEntries); absent = no per-sender bound */
  readonly maxPerSender?: number | undefined;
}

export interface AppendResult {
  readonly seq: number;
  readonly duplicate: boolean;
  /** entries dropped to stay within maxEntries (lost: counted in metrics) */
  readonly dropped: number;
  /**
   * set when nothing was stored (seq is 0): 'per-sender' = the bound above; 'no-device' = a carbon copy
   * (AppendOptions.exceptDevice) for a user with no other linked device
   */
  readonly refused?: 'per-sender' | 'no-device';
}

export interface InboxStore {
  append(userId: number, message: InboxMessage, limits: InboxLimits): Promise<AppendResult>;
  /** Up to `limit` entries with seq > afterSeq, oldest first. */
  pending(userId: number, afterSeq: number, limit: number): Promise<InboxEntry[]>;
  /** Removes the entries with these seqs; returns the ones that were there. */
  ack(userId: number, seqs: readonly number[]): Promise<InboxEntry[]>;
  /** Highest seq ever given to this user (0 when none). */
  maxSeq(userId: number): Promise<number>;
}

/**
 * Several devices per user (login policy `multi`, docs/delivery.md "Several devices"). A user with no
 * linked device has one inbox, the device '' (what every other policy and CIM's clients use). Once
 * devices are linked, each linked device has its own inbox: an append stores the entry in every linked
 * device's inbox under ONE seq (the user's counter) and one id index, so a live push carries one seq that
 * is right for every device; each device acknowledges (and so removes) only its own copy. The per-sender
 * bound holds in every device's inbox (an append is refused when any target inbox holds the cap). The
 * first linked device inherits the '' inbox's pending entries. Devices idle longer than `idleMs` and,
 * beyond `maxDevices`, the least recently linked are unlinked with their inboxes, never a device in `keep`.
 */
export interface DeviceLimits {
  readonly maxDevices: number;
  readonly idleMs: number;
  /** ms since epoch: the device's lastSeen */
  readonly now: number;
  /** devices with a live session: never unlinked here */
  readonly keep: readonly string[];
}

export type LinkResult = { readonly ok: true; readonly evicted: readonly string[] } | { readonly ok: false; readonly reason: 'too-many-devices' };

export interface LinkedDevice {
  readonly device: string;
  /** ms since epoch of its last link (login) */
  readonly lastSeen: number;
}

export interface AppendOptions {
  /** a carbon copy of the user's own send: stored for every linked device but this one (the sender's) */
  readonly exceptDevice?: string;
}

/** `''` (the default device) or a client-chosen id. */
export const DEVICE_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export interface DeviceInboxStore extends InboxStore {
  append(userId: number, message: InboxMessage, limits: InboxLimits, options?: AppendOptions): Promise<AppendResult>;
  pending(userId: number, afterSeq: number, limit: number, device?: string): Promise<InboxEntry[]>;
  ack(userId: number, seqs: readonly number[], device?: string): Promise<InboxEntry[]>;
  /** Links (or refreshes) a device, unlinking idle and surplus ones first. */
  linkDevice(userId: number, device: string, limits: DeviceLimits): Promise<LinkResult>;
  /** Unlinks a device and deletes its inbox; false when it was not linked. */
  unlinkDevice(userId: number, device: string): Promise<boolean>;
  /** The linked devices, most recently seen first. */
  devices(userId: number): Promise<LinkedDevice[]>;
}

export function supportsDevices(store: InboxStore): store is DeviceInboxStore {
  return typeof (store as Partial<DeviceInboxStore>).linkDevice === 'function';
}
