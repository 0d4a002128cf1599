/**
 * InboxStore on PostgreSQL (the `--offline-store postgres` backend; schema and the append/ack functions in
 * sql/migrations.ts). Same contract and results as the Redis backend; the pool's owner closes it. Expiry
 * follows the given clock (the process's), as the memory backend's does.
 */
import { systemClock, type Clock } from '../clock.ts';
import type { SqlPool } from '../sql/pool.ts';
import { withSeq } from '../sql/with-seq.ts';
import { checkLimits, checkPage, checkUserId, distinctSeqs, idempotencyKey, normalizeMessage, parseEntry, REFUSED_PER_SENDER, senderCap } from './entry.ts';
import type { AppendResult, InboxEntry, InboxLimits, InboxMessage, InboxStore } from './types.ts';

interface AppendRow {
  r_seq: string;
  r_duplicate: boolean;
  r_dropped: number;
  r_refused: boolean;
}

export class SqlInboxStore implements InboxStore {
  readonly #pool: SqlPool;
  readonly #clock: Clock;

  constructor(pool: SqlPool, clock: Clock = systemClock) {
    this.#pool = pool;
    this.#clock = clock;
  }

  async append(userId: number, message: InboxMessage, limits: InboxLimits): Promise<AppendResult> {
    checkUserId(userId);
    checkLimits(limits);
    const m = normalizeMessage(message);
    const cap = senderCap(limits);
    const { rows } = await this.#pool.query<AppendRow>('SELECT * FROM cim_inbox_append($1, $2, $3, $4, $5, $6, $7, $8)', [
      userId,
      idempotencyKey(m),
      m.from.userId,
      JSON.stringify(m),
      limits.maxEntries,
      limits.ttlMs,
      Number.isFinite(cap) ? cap : 0,
      this.#clock.now(),
    ]);
    const r = rows[0]!;
    if (r.r_refused) return REFUSED_PER_SENDER;
    return { seq: Number(r.r_seq), duplicate: r.r_duplicate, dropped: r.r_dropped };
  }

  async pending(userId: number, afterSeq: number, limit: number): Promise<InboxEntry[]> {
    checkUserId(userId);
    checkPage(afterSeq, limit);
    const { rows } = await this.#pool.query<{ seq: string; body: string }>(
      `SELECT e.seq, e.body FROM cim_inbox_entries e JOIN cim_inbox_counters c ON c.user_id = e.user_id
       WHERE e.user_id = $1 AND c.expires_at > $2 AND e.seq > $3 ORDER BY e.seq LIMIT $4`,
      [userId, this.#clock.now(), afterSeq, limit],
    );
    return parseAll(rows.map((r) => [r.seq, r.body]));
  }

  async ack(userId: number, seqs: readonly number[]): Promise<InboxEntry[]> {
    checkUserId(userId);
    const wanted = distinctSeqs(seqs);
    if (wanted.length === 0) return [];
    const { rows } = await this.#pool.query<{ r_seq: string; r_body: string }>('SELECT * FROM cim_inbox_ack($1, $2, $3)', [userId, wanted, this.#clock.now()]);
    return parseAll(rows.map((r) => [r.r_seq, r.r_body]));
  }

  async maxSeq(userId: number): Promise<number> {
    checkUserId(userId);
    const { rows } = await this.#pool.query<{ seq: string }>('SELECT seq FROM cim_inbox_counters WHERE user_id = $1', [userId]);
    return Number(rows[0]?.seq ?? 0);
  }

  /** Deletes the rows of up to `limit` expired inboxes; returns how many (sql/select.ts runs it periodically). */
  async sweep(limit = 1000): Promise<number> {
    const { rows } = await this.#pool.query<{ n: number }>('SELECT cim_inbox_sweep($1, $2) AS n', [this.#clock.now(), limit]);
    return rows[0]?.n ?? 0;
  }
}

/** Stored rows (seq, message JSON) as entries in seq order; a row that does not parse is skipped, as in Redis. */
function parseAll(rows: readonly (readonly [string, string])[]): InboxEntry[] {
  return rows.flatMap(([seq, body]) => parseEntry(withSeq(seq, body)) ?? []).sort((a, b) => a.seq - b.seq);
}

