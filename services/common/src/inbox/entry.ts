/**
 * Validation and the stored form of inbox entries, shared by both InboxStore backends so they accept
 * and return exactly the same things. Stores validate their inputs even though callers already do:
 * a bad argument fails loudly here instead of being stored and replayed to a client forever.
 */
import { parseSeqEntry } from '../stored-entry.ts';
import { checkAttachment } from '../files/attachment.ts';
import { DEVICE_PATTERN, type AppendResult, type InboxEntry, type InboxLimits, type InboxMessage } from './types.ts';

const MSG_ID = /^[A-Za-z0-9_-]{1,64}$/;

const isPositiveInt = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) > 0;

export function checkUserId(userId: number): void {
  if (!isPositiveInt(userId)) throw new RangeError(`inbox: bad userId ${String(userId)}`);
}

export function checkDevice(device: string): void {
  if (device !== '' && !DEVICE_PATTERN.test(device)) throw new RangeError(`inbox: bad device ${JSON.stringify(String(device).slice(0, 70))}`);
}

export function checkLimits(limits: InboxLimits): void {
  if (!isPositiveInt(limits.maxEntries)) throw new RangeError(`inbox: bad maxEntries ${String(limits.maxEntries)}`);
  if (!isPositiveInt(limits.ttlMs)) throw new RangeError(`inbox: bad ttlMs ${String(limits.ttlMs)}`);
  if (limits.maxPerSender !== undefined && !isPositiveInt(limits.maxPerSender)) throw new RangeError(`inbox: bad maxPerSender ${String(limits.maxPerSender)}`);
}

/** Pending entries one sender may hold in one inbox: maxPerSender capped at maxEntries; Infinity when unbounded. */
export const senderCap = (limits: InboxLimits): number => (limits.maxPerSender === undefined ? Number.POSITIVE_INFINITY : Math.min(limits.maxPerSender, limits.maxEntries));

/** A carbon copy for a user whose only linked device is the sender's (or who has none). */
export const REFUSED_NO_DEVICE: AppendResult = Object.freeze({ seq: 0, duplicate: false, dropped: 0, refused: 'no-device' });

/** The refusal of an append beyond the per-sender bound. */
export const REFUSED_PER_SENDER: AppendResult = Object.freeze({ seq: 0, duplicate: false, dropped: 0, refused: 'per-sender' });

export function checkPage(afterSeq: number, limit: number): void {
  if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw new RangeError(`inbox: bad afterSeq ${String(afterSeq)}`);
  if (!isPositiveInt(limit)) throw new RangeError(`inbox: bad limit ${String(limit)}`);
}

/** The distinct seqs, ascending; throws on anything that is not a positive integer. */
export function distinctSeqs(seqs: readonly number[]): number[] {
  for (const s of seqs) if (!isPositiveInt(s)) throw new RangeError(`inbox: bad seq ${String(s)}`);
  return [...new Set(seqs)].sort((a, b) => a - b);
}

/** A copy of the message with exactly the known fields, in a fixed order; throws when one is invalid. */
export function normalizeMessage(m: InboxMessage): InboxMessage {
  if (typeof m.msgId !== 'string' || !MSG_ID.test(m.msgId)) throw new RangeError('inbox: bad msgId');
  if (!isPositiveInt(m.from?.userId) || typeof m.from.userName !== 'string') throw new RangeError('inbox: bad sender');
  if (typeof m.text !== 'string') throw new RangeError('inbox: bad text');
  if (!Number.isSafeInteger(m.sentAt) || m.sentAt < 0) throw new RangeError('inbox: bad sentAt');
  if (m.chatType !== 'private' && m.chatType !== 'group') throw new RangeError('inbox: bad chatType');
  // A named group's message carries both its group and its gseq, or neither (then it is a private message).
  const grouped = m.groupId !== undefined || m.gseq !== undefined;
  if (grouped && (m.chatType !== 'group' || !isPositiveInt(m.groupId) || !isPositiveInt(m.gseq))) throw new RangeError('inbox: bad groupId/gseq');
  if (m.carbonTo !== undefined && !isPositiveInt(m.carbonTo)) throw new RangeError('inbox: bad carbonTo');
  const attachment = m.attachment === undefined ? undefined : checkAttachment(m.attachment);
  if (m.attachment !== undefined && !attachment) throw new RangeError('inbox: bad attachment');
  return {
    msgId: m.msgId,
    from: { userId: m.from.userId, userName: m.from.userName },
    text: m.text,
    sentAt: m.sentAt,
    chatType: m.chatType,
    ...(grouped ? { groupId: m.groupId!, gseq: m.gseq! } : {}),
    ...(m.carbonTo !== undefined ? { carbonTo: m.carbonTo } : {}),
    // Last: the Lua scripts find the sender by the fixed order of the first fields (inbox/redis.ts).
    ...(attachment ? { attachment } : {}),
  };
}

/** The idempotency key of a message: its sender and msgId (a msgId never contains ':'). */
export const idempotencyKey = (m: InboxMessage): string => `${m.from.userId}:${m.msgId}`;

/** Parses a stored entry; undefined when it is not one (never throws on stored bytes). */
export const parseEntry = (json: string): InboxEntry | undefined => parseSeqEntry(json, normalizeMessage);
