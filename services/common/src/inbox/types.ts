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
  /** set when the append was refused: nothing was stored (seq is 0) */
  readonly refused?: 'per-sender';
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
