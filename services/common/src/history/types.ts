/**
 * HistoryStore: each conversation's recent messages, kept on the server so a new device (or the web client)
 * sees the conversation (docs/delivery.md, "History"). Unlike the inbox, nothing leaves it on acknowledgement:
 * it is bounded (oldest out first) and expires a TTL after its last message.
 *
 * Guarantees, for every backend:
 * - seq is per conversation, starts at 1 and increases by exactly 1 per stored append: the order of the
 *   conversation as the servers stored it (both directions interleaved).
 * - append is idempotent by (from.userId, msgId) while the id is remembered (2 x maxEntries appends).
 * - page returns up to `limit` entries with seq < beforeSeq (all when absent), the newest of them, in seq order.
 */

export interface HistoryMessage {
  readonly msgId: string;
  readonly from: { readonly userId: number; readonly userName: string };
  readonly to: number;
  readonly text: string;
  /** ms since epoch, when the first hop accepted it */
  readonly sentAt: number;
}

export interface HistoryEntry extends HistoryMessage {
  readonly seq: number;
}

export interface HistoryLimits {
  readonly maxEntries: number;
  readonly ttlMs: number;
}

export interface HistoryAppendResult {
  readonly seq: number;
  readonly duplicate: boolean;
}

export interface HistoryStore {
  append(conversation: string, message: HistoryMessage, limits: HistoryLimits): Promise<HistoryAppendResult>;
  page(conversation: string, beforeSeq: number | undefined, limit: number): Promise<HistoryEntry[]>;
}

/** The most entries one page may ask for (route schema and stores agree). */
export const MAX_HISTORY_PAGE = 200;

/** A named group's conversation id; its entries carry the groupId in `to`. */
export function groupConversation(groupId: number): string {
  return `g:${groupId}`;
}

/** A private conversation's id: the same for both participants. */
export function privateConversation(a: number, b: number): string {
  return a < b ? `p:${a}:${b}` : `p:${b}:${a}`;
}
