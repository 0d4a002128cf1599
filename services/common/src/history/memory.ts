/** HistoryStore in memory: one process (`cim up` without Redis, unit tests); same contract as Redis. */
import type { Clock } from '../clock.ts';
import { checkConversation, checkHistoryLimits, checkHistoryPage, historyIdKey, normalizeHistoryMessage } from './entry.ts';
import type { HistoryAppendResult, HistoryEntry, HistoryLimits, HistoryMessage, HistoryStore } from './types.ts';

interface Conversation {
  seq: number;
  entries: HistoryEntry[];
  /** idKey -> seq, insertion-ordered so the oldest ids go first */
  ids: Map<string, number>;
  expiresAt: number;
}

export class MemoryHistoryStore implements HistoryStore {
  readonly #clock: Clock;
  readonly #conversations = new Map<string, Conversation>();
  /** seq counters outlive expiry, as Redis's do: a conversation's seqs never repeat */
  readonly #counters = new Map<string, number>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  #live(conversation: string): Conversation | undefined {
    const c = this.#conversations.get(conversation);
    if (c && c.expiresAt <= this.#clock.now()) {
      this.#conversations.delete(conversation);
      return undefined;
    }
    return c;
  }

  async append(conversation: string, message: HistoryMessage, limits: HistoryLimits): Promise<HistoryAppendResult> {
    checkConversation(conversation);
    checkHistoryLimits(limits);
    const m = normalizeHistoryMessage(message);
    let c = this.#live(conversation);
    const id = historyIdKey(m);
    const known = c?.ids.get(id);
    if (known !== undefined) return { seq: known, duplicate: true };
    if (!c) {
      c = { seq: 0, entries: [], ids: new Map(), expiresAt: 0 };
      this.#conversations.set(conversation, c);
    }
    const seq = (this.#counters.get(conversation) ?? 0) + 1;
    this.#counters.set(conversation, seq);
    c.entries.push({ seq, ...m });
    c.ids.set(id, seq);
    if (c.entries.length > limits.maxEntries) c.entries.splice(0, c.entries.length - limits.maxEntries);
    while (c.ids.size > 2 * limits.maxEntries) c.ids.delete(c.ids.keys().next().value!);
    c.expiresAt = this.#clock.now() + limits.ttlMs;
    return { seq, duplicate: false };
  }

  async page(conversation: string, beforeSeq: number | undefined, limit: number): Promise<HistoryEntry[]> {
    checkConversation(conversation);
    checkHistoryPage(beforeSeq, limit);
    const entries = this.#live(conversation)?.entries ?? [];
    const older = beforeSeq === undefined ? entries : entries.filter((e) => e.seq < beforeSeq);
    return older.slice(Math.max(0, older.length - limit)).map((e) => ({ ...e, from: { ...e.from } }));
  }
}
