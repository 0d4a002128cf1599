/** Validation and the stored form of history entries, shared by both HistoryStore backends. */
import { parseSeqEntry } from '../stored-entry.ts';
import { MAX_HISTORY_PAGE, type HistoryEntry, type HistoryLimits, type HistoryMessage } from './types.ts';

const MSG_ID = /^[A-Za-z0-9_-]{1,64}$/;
// `p:<low id>:<high id>` (private) or `g:<groupId>` (a named group; its entries' `to` is the groupId).
const CONVERSATION = /^(p:\d{1,16}:\d{1,16}|g:\d{1,16})$/;
const isPositiveInt = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) > 0;

export function checkConversation(conversation: string): void {
  if (typeof conversation !== 'string' || !CONVERSATION.test(conversation)) throw new RangeError(`history: bad conversation ${String(conversation)}`);
}

export function checkHistoryLimits(limits: HistoryLimits): void {
  if (!isPositiveInt(limits.maxEntries)) throw new RangeError(`history: bad maxEntries ${String(limits.maxEntries)}`);
  if (!isPositiveInt(limits.ttlMs)) throw new RangeError(`history: bad ttlMs ${String(limits.ttlMs)}`);
}

export function checkHistoryPage(beforeSeq: number | undefined, limit: number): void {
  if (beforeSeq !== undefined && !isPositiveInt(beforeSeq)) throw new RangeError(`history: bad beforeSeq ${String(beforeSeq)}`);
  if (!isPositiveInt(limit) || limit > MAX_HISTORY_PAGE) throw new RangeError(`history: bad limit ${String(limit)}`);
}

/** A copy with exactly the known fields in a fixed order (seq is spliced in first by the stores). */
export function normalizeHistoryMessage(m: HistoryMessage): HistoryMessage {
  if (typeof m.msgId !== 'string' || !MSG_ID.test(m.msgId)) throw new RangeError('history: bad msgId');
  if (!isPositiveInt(m.from?.userId) || typeof m.from.userName !== 'string') throw new RangeError('history: bad sender');
  if (!isPositiveInt(m.to)) throw new RangeError('history: bad receiver');
  if (typeof m.text !== 'string') throw new RangeError('history: bad text');
  if (!Number.isSafeInteger(m.sentAt) || m.sentAt < 0) throw new RangeError('history: bad sentAt');
  return { msgId: m.msgId, from: { userId: m.from.userId, userName: m.from.userName }, to: m.to, text: m.text, sentAt: m.sentAt };
}

export const historyIdKey = (m: HistoryMessage): string => `${m.from.userId}:${m.msgId}`;

/** Parses a stored entry; undefined when it is not one (never throws on stored bytes). */
export const parseHistoryEntry = (json: string): HistoryEntry | undefined => parseSeqEntry(json, normalizeHistoryMessage);
