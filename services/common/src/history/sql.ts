/**
 * HistoryStore on PostgreSQL (the `--offline-store postgres` backend; schema and the append function in
 * sql/migrations.ts). Same contract and results as the Redis backend; the pool's owner closes it.
 */
import { systemClock, type Clock } from '../clock.ts';
import type { SqlPool } from '../sql/pool.ts';
import { withSeq } from '../sql/with-seq.ts';
import { checkConversation, checkHistoryLimits, checkHistoryPage, historyIdKey, normalizeHistoryMessage, parseHistoryEntry } from './entry.ts';
import type { HistoryAppendResult, HistoryEntry, HistoryLimits, HistoryMessage, HistoryStore } from './types.ts';

export class SqlHistoryStore implements HistoryStore {
  readonly #pool: SqlPool;
  readonly #clock: Clock;

  constructor(pool: SqlPool, clock: Clock = systemClock) {
    this.#pool = pool;
    this.#clock = clock;
  }

  async append(conversation: string, message: HistoryMessage, limits: HistoryLimits): Promise<HistoryAppendResult> {
    checkConversation(conversation);
    checkHistoryLimits(limits);
    const m = normalizeHistoryMessage(message);
    const { rows } = await this.#pool.query<{ r_seq: string; r_duplicate: boolean }>('SELECT * FROM cim_history_append($1, $2, $3, $4, $5, $6)', [
      conversation,
      historyIdKey(m),
      JSON.stringify(m),
      limits.maxEntries,
      limits.ttlMs,
      this.#clock.now(),
    ]);
    const r = rows[0]!;
    return { seq: Number(r.r_seq), duplicate: r.r_duplicate };
  }

  async page(conversation: string, beforeSeq: number | undefined, limit: number): Promise<HistoryEntry[]> {
    checkConversation(conversation);
    checkHistoryPage(beforeSeq, limit);
    const { rows } = await this.#pool.query<{ seq: string; body: string }>(
      `SELECT e.seq, e.body FROM cim_history_entries e JOIN cim_history_counters c ON c.conversation = e.conversation
       WHERE e.conversation = $1 AND c.expires_at > $2 AND ($3::bigint IS NULL OR e.seq < $3) ORDER BY e.seq DESC LIMIT $4`,
      [conversation, this.#clock.now(), beforeSeq ?? null, limit],
    );
    return rows.reverse().flatMap((r) => parseHistoryEntry(withSeq(r.seq, r.body)) ?? []);
  }

  /** Deletes the rows of up to `limit` expired conversations; returns how many. */
  async sweep(limit = 1000): Promise<number> {
    const { rows } = await this.#pool.query<{ n: number }>('SELECT cim_history_sweep($1, $2) AS n', [this.#clock.now(), limit]);
    return rows[0]?.n ?? 0;
  }
}
