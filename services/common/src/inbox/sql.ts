/**
 * InboxStore on PostgreSQL (the `--offline-store postgres` backend; schema and the append/ack/link functions in
 * sql/migrations.ts and sql/inbox-devices-migration.ts). Same contract and results as the Redis backend, devices
 * included (DeviceInboxStore); the pool's owner closes it. Expiry follows the given clock (the process's), as the
 * memory backend's does.
 */
import { systemClock, type Clock } from '../clock.ts';
import type { SqlPool } from '../sql/pool.ts';
import { withSeq } from '../sql/with-seq.ts';
import { linkOptimistically } from './devices.ts';
import { checkDevice, checkLimits, checkPage, checkUserId, distinctSeqs, idempotencyKey, normalizeMessage, parseEntry, REFUSED_NO_DEVICE, REFUSED_PER_SENDER, senderCap } from './entry.ts';
import type { AppendOptions, AppendResult, DeviceInboxStore, DeviceLimits, InboxEntry, InboxLimits, InboxMessage, LinkedDevice, LinkResult } from './types.ts';

interface AppendRow {
  r_seq: string;
  r_duplicate: boolean;
  r_dropped: number;
  r_refused: string | null;
}

/** The linked devices as cim_inbox_link compares them: 'device=lastSeen' by device (byte order, COLLATE "C"), ';'-joined. */
const snapshotOf = (linked: readonly LinkedDevice[]): string =>
  [...linked]
    .sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0))
    .map((d) => `${d.device}=${d.lastSeen}`)
    .join(';');

export class SqlInboxStore implements DeviceInboxStore {
  readonly #pool: SqlPool;
  readonly #clock: Clock;

  constructor(pool: SqlPool, clock: Clock = systemClock) {
    this.#pool = pool;
    this.#clock = clock;
  }

  async append(userId: number, message: InboxMessage, limits: InboxLimits, options: AppendOptions = {}): Promise<AppendResult> {
    checkUserId(userId);
    checkLimits(limits);
    if (options.exceptDevice !== undefined) checkDevice(options.exceptDevice);
    const m = normalizeMessage(message);
    const cap = senderCap(limits);
    const { rows } = await this.#pool.query<AppendRow>('SELECT * FROM cim_inbox_device_append($1, $2, $3, $4, $5, $6, $7, $8, $9)', [
      userId,
      idempotencyKey(m),
      m.from.userId,
      JSON.stringify(m),
      limits.maxEntries,
      limits.ttlMs,
      Number.isFinite(cap) ? cap : 0,
      this.#clock.now(),
      options.exceptDevice ?? null,
    ]);
    const r = rows[0]!;
    if (r.r_refused === 'per-sender') return REFUSED_PER_SENDER;
    if (r.r_refused === 'no-device') return REFUSED_NO_DEVICE;
    if (r.r_refused !== null) throw new Error(`inbox: unknown refusal ${r.r_refused} from cim_inbox_device_append`);
    return { seq: Number(r.r_seq), duplicate: r.r_duplicate, dropped: r.r_dropped };
  }

  async pending(userId: number, afterSeq: number, limit: number, device = ''): Promise<InboxEntry[]> {
    checkUserId(userId);
    checkPage(afterSeq, limit);
    checkDevice(device);
    const { rows } = await this.#pool.query<{ seq: string; body: string }>(
      `SELECT e.seq, e.body FROM cim_inbox_entries e JOIN cim_inbox_boxes b ON b.user_id = e.user_id AND b.device = e.device
       WHERE e.user_id = $1 AND e.device = $2 AND b.expires_at > $3 AND e.seq > $4 ORDER BY e.seq LIMIT $5`,
      [userId, device, this.#clock.now(), afterSeq, limit],
    );
    return parseAll(rows.map((r) => [r.seq, r.body]));
  }

  async ack(userId: number, seqs: readonly number[], device = ''): Promise<InboxEntry[]> {
    checkUserId(userId);
    checkDevice(device);
    const wanted = distinctSeqs(seqs);
    if (wanted.length === 0) return [];
    const { rows } = await this.#pool.query<{ r_seq: string; r_body: string }>('SELECT * FROM cim_inbox_device_ack($1, $2, $3, $4)', [userId, device, wanted, this.#clock.now()]);
    return parseAll(rows.map((r) => [r.r_seq, r.r_body]));
  }

  async maxSeq(userId: number): Promise<number> {
    checkUserId(userId);
    const { rows } = await this.#pool.query<{ seq: string }>('SELECT seq FROM cim_inbox_counters WHERE user_id = $1', [userId]);
    return Number(rows[0]?.seq ?? 0);
  }

  /**
   * Plans with the shared planner on a read of the linked devices, then applies the plan in one function call
   * under the user's row lock, which refuses it when the devices changed meanwhile (a concurrent link): then
   * the plan is made again. No lock is held across round trips.
   */
  linkDevice(userId: number, device: string, limits: DeviceLimits): Promise<LinkResult> {
    return linkOptimistically(userId, device, limits, () => this.devices(userId), async (linked, evict) => {
      const { rows } = await this.#pool.query<{ ok: boolean }>('SELECT cim_inbox_link($1, $2, $3, $4, $5) AS ok', [userId, device, limits.now, snapshotOf(linked), [...evict]]);
      return rows[0]?.ok === true;
    });
  }

  async unlinkDevice(userId: number, device: string): Promise<boolean> {
    checkUserId(userId);
    checkDevice(device);
    const { rows } = await this.#pool.query<{ ok: boolean }>('SELECT cim_inbox_unlink($1, $2) AS ok', [userId, device]);
    return rows[0]?.ok === true;
  }

  async devices(userId: number): Promise<LinkedDevice[]> {
    checkUserId(userId);
    const { rows } = await this.#pool.query<{ device: string; last_seen: string }>(
      'SELECT device, last_seen FROM cim_inbox_devices WHERE user_id = $1 ORDER BY last_seen DESC, device COLLATE "C"',
      [userId],
    );
    return rows.map((r) => ({ device: r.device, lastSeen: Number(r.last_seen) }));
  }

  /** Deletes the expired rows of up to `limit` users; returns how many (sql/select.ts runs it periodically). */
  async sweep(limit = 1000): Promise<number> {
    const { rows } = await this.#pool.query<{ n: number }>('SELECT cim_inbox_sweep($1, $2) AS n', [this.#clock.now(), limit]);
    return rows[0]?.n ?? 0;
  }
}

/** Stored rows (seq, message JSON) as entries in seq order; a row that does not parse is skipped, as in Redis. */
function parseAll(rows: readonly (readonly [string, string])[]): InboxEntry[] {
  return rows.flatMap(([seq, body]) => parseEntry(withSeq(seq, body)) ?? []).sort((a, b) => a.seq - b.seq);
}
