/**
 * The SQL inbox backend (services/common/src/inbox/sql.ts) on a real PostgreSQL started for this file: the
 * InboxStore contract suite and its devices part, the migration run under concurrency, the in-place upgrade of a
 * database migrated by the previous release, appends from two "replicas" (pools) at once (also racing device
 * links), the sweep of expired inboxes, and a cluster (cim-server + cim-route processes) with --offline-store postgres
 * delivering an offline message after login.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ChatMessage, type CimClient } from '../../services/client/src/index.ts';
import { ManualClock } from '../../services/common/src/clock.ts';
import { SqlInboxStore } from '../../services/common/src/inbox/sql.ts';
import type { DeviceLimits, InboxLimits, InboxMessage } from '../../services/common/src/inbox/types.ts';
import { startPostgresServer, type PostgresInstance } from '../../services/common/src/infra/postgres-server.ts';
import { migrate } from '../../services/common/src/sql/migrate.ts';
import { MIGRATIONS } from '../../services/common/src/sql/migrations.ts';
import { createPool, type SqlPool } from '../../services/common/src/sql/pool.ts';
import { describeInboxDevicesContract } from '../contracts/inbox-devices.ts';
import { describeInboxStoreContract } from '../contracts/inbox-store.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { routeApi, TEST_PASSWORD } from '../harness/route-api.ts';

let postgres: PostgresInstance;
let pool: SqlPool;
beforeAll(async () => {
  postgres = await startPostgresServer();
  pool = createPool(postgres.url, { max: 20 });
  expect(await migrate(pool)).toEqual(MIGRATIONS.map((m) => m.version));
});
afterAll(async () => {
  await pool?.end();
  await postgres?.stop();
});

const TABLES = 'cim_inbox_counters, cim_inbox_entries, cim_inbox_ids, cim_inbox_boxes, cim_inbox_devices';
const rowCount = async (table: string, where = 'true'): Promise<number> => Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE ${where}`)).rows[0]!.n);

// Time is the store's clock (the process's in production), so the suite's `advance` is a manual clock's.
describeInboxStoreContract('postgres', async () => {
  await pool.query(`TRUNCATE ${TABLES}`); // tests in a file run serially
  const clock = new ManualClock();
  return { store: new SqlInboxStore(pool, clock), advance: async (ms) => clock.advance(ms), close: async () => undefined };
});
describeInboxDevicesContract('postgres', async () => {
  await pool.query(`TRUNCATE ${TABLES}`);
  const clock = new ManualClock();
  return { store: new SqlInboxStore(pool, clock), advance: async (ms) => clock.advance(ms), close: async () => undefined };
});

const LIMITS: InboxLimits = { maxEntries: 1000, ttlMs: 60_000 };
const message = (msgId: string, senderId = 7): InboxMessage => ({ msgId, from: { userId: senderId, userName: `u${senderId}` }, text: `text ${msgId}`, sentAt: 1, chatType: 'private' });
const devs = (now: number): DeviceLimits => ({ maxDevices: 10, idleMs: 86_400_000, now, keep: [] });
/** from, from + 1, ..., to */
const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
const NOW = 1_700_000_000_000;

describe('SQL schema migrations', () => {
  it('apply exactly once when 3 replicas migrate one database at once, and not again later', async () => {
    const url = await postgres.createDatabase('migrate_race');
    const pools = [createPool(url), createPool(url), createPool(url)];
    try {
      const runs = await Promise.all(pools.map((p) => migrate(p)));
      expect(runs.flat().sort((a, b) => a - b)).toEqual(MIGRATIONS.map((m) => m.version));
      expect(runs.filter((r) => r.length > 0)).toHaveLength(1); // one replica did all the work
      expect(await Promise.all(pools.map((p) => migrate(p)))).toEqual([[], [], []]);
      const ledger = await pools[0]!.query<{ version: number; name: string }>('SELECT version, name FROM cim_schema_migrations ORDER BY version');
      expect(ledger.rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
      // The schema works on the migrated database.
      expect(await new SqlInboxStore(pools[1]!).append(1, message('m'), LIMITS)).toEqual({ seq: 1, duplicate: false, dropped: 0 });
      // A database migrated by another schema under the same numbers is refused, not "upgraded".
      await expect(migrate(pools[2]!, [{ version: 1, name: 'something-else', sql: 'SELECT 1' }])).rejects.toThrow(/migration 1 is "inbox"/);
      // A failing migration leaves nothing behind (its own transaction) and the lock is released for the next run.
      const next = MIGRATIONS.length + 1;
      await expect(migrate(pools[2]!, [...MIGRATIONS, { version: next, name: 'broken', sql: 'CREATE TABLE cim_half (x int); SELECT * FROM no_such_table' }])).rejects.toThrow(`migration ${next} (broken) failed`);
      expect(Number((await pools[0]!.query<{ n: string }>("SELECT count(*) AS n FROM pg_tables WHERE tablename = 'cim_half'")).rows[0]!.n)).toBe(0);
      expect(await migrate(pools[0]!)).toEqual([]);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it("upgrade a database migrated by the previous release in place: its rows become the default device's", async () => {
    const db = createPool(await postgres.createDatabase('upgrade'));
    try {
      expect(await migrate(db, MIGRATIONS.slice(0, 2))).toEqual([1, 2]); // the previous release's list
      // Written as that release's SqlInboxStore wrote (its functions, per-sender cap 3).
      const oldAppend = (user: number, id: string, sender = 7) =>
        db.query('SELECT * FROM cim_inbox_append($1, $2, $3, $4, $5, $6, $7, $8)', [user, `${sender}:${id}`, sender, JSON.stringify(message(id, sender)), 1000, 60_000, 3, NOW]);
      const oldAck = async (user: number, seqs: number[]) => (await db.query<{ r_seq: string }>('SELECT * FROM cim_inbox_ack($1, $2, $3)', [user, seqs, NOW])).rows.map((r) => Number(r.r_seq));
      for (const id of ['a1', 'a2', 'a3']) await oldAppend(1, id);
      await oldAppend(1, 'a4', 8);
      await oldAppend(2, 'b1');
      expect(await oldAck(1, [2])).toEqual([2]);

      expect(await migrate(db)).toEqual([3]);
      const count = async (sql: string) => Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${sql}`)).rows[0]!.n);
      expect(await count("cim_inbox_entries WHERE device = ''")).toBe(4);
      expect(await count('cim_inbox_ids')).toBe(5);
      expect((await db.query("SELECT user_id, device, pending FROM cim_inbox_boxes ORDER BY user_id")).rows).toEqual([
        { user_id: '1', device: '', pending: 3 },
        { user_id: '2', device: '', pending: 1 },
      ]);
      const store = new SqlInboxStore(db, new ManualClock(NOW));
      const seqs = async (user: number, device = '') => (await store.pending(user, 0, 100, device)).map((e) => e.seq);
      expect(await seqs(1)).toEqual([1, 3, 4]);
      expect(await seqs(2)).toEqual([1]);
      expect(await store.append(1, message('a1'), LIMITS)).toEqual({ seq: 1, duplicate: true, dropped: 0 }); // the id index survived
      const capped = { ...LIMITS, maxPerSender: 3 };
      expect(await store.append(1, message('a5'), capped)).toEqual({ seq: 5, duplicate: false, dropped: 0 });
      expect((await store.append(1, message('a6'), capped)).refused).toBe('per-sender'); // a1, a3, a5: old rows count
      expect(await store.linkDevice(1, 'phone', devs(NOW))).toEqual({ ok: true, evicted: [] });
      expect(await seqs(1, 'phone')).toEqual([1, 3, 4, 5]);
      expect(await seqs(1)).toEqual([]);
      // A replica still on the previous release (rolling upgrade) works through the old signatures.
      expect((await oldAppend(2, 'b2')).rows[0]).toEqual({ r_seq: '2', r_duplicate: false, r_dropped: 0, r_refused: false });
      expect(await oldAck(2, [1])).toEqual([1]);
      expect(await seqs(2)).toEqual([2]);
      expect(await store.maxSeq(2)).toBe(2);
    } finally {
      await db.end();
    }
  });
});

describe('SqlInboxStore under concurrency', () => {
  it('200 appends from two replicas at once, 50 of them retries: 150 stored, seqs 1..150 gapless, each retry gets its original seq', async () => {
    await pool.query(`TRUNCATE ${TABLES}`);
    const other = createPool(postgres.url, { max: 20 });
    try {
      const stores = [new SqlInboxStore(pool), new SqlInboxStore(other)];
      // ids 0..149, then 50 retries of ids 0, 3, 6, ... 147, all interleaved and split over both replicas.
      const ids = [...Array.from({ length: 150 }, (_, i) => `c${i}`), ...Array.from({ length: 50 }, (_, i) => `c${i * 3}`)];
      const order = ids.map((id, i) => ({ id, key: (i * 7919) % ids.length })).sort((a, b) => a.key - b.key);
      const results = await Promise.all(order.map(({ id }, i) => stores[i % 2]!.append(42, message(id), LIMITS).then((r) => ({ id, ...r }))));

      const stored = results.filter((r) => !r.duplicate);
      const retries = results.filter((r) => r.duplicate);
      expect(stored).toHaveLength(150);
      expect(retries).toHaveLength(50);
      expect(stored.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
      expect(results.filter((r) => r.dropped > 0 || r.refused !== undefined)).toHaveLength(0);
      const seqOf = new Map(stored.map((r) => [r.id, r.seq]));
      expect(seqOf.size).toBe(150);
      for (const r of retries) expect(r.seq).toBe(seqOf.get(r.id));

      const pending = await stores[1]!.pending(42, 0, 1000);
      expect(pending.map((e) => e.seq)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
      expect(new Set(pending.map((e) => e.msgId)).size).toBe(150);
      for (const e of pending) expect(seqOf.get(e.msgId)).toBe(e.seq);
      expect(await rowCount('cim_inbox_entries')).toBe(150);
      expect(await rowCount('cim_inbox_ids')).toBe(150);
      expect(await stores[0]!.maxSeq(42)).toBe(150);
    } finally {
      await other.end();
    }
  });

  it('acks and appends of one inbox interleaved from two replicas keep the pending count exact', async () => {
    await pool.query(`TRUNCATE ${TABLES}`);
    const other = createPool(postgres.url);
    try {
      const [a, b] = [new SqlInboxStore(pool), new SqlInboxStore(other)];
      const limits = { ...LIMITS, maxEntries: 200 };
      for (let i = 0; i < 100; i++) await a.append(5, message(`x${i}`), limits);
      // 100 acks of seqs 1..100 (each twice, on both replicas) race 100 new appends; 200 fit, so none may drop.
      const acks = Array.from({ length: 100 }, (_, i) => [a.ack(5, [i + 1]), b.ack(5, [i + 1])]).flat();
      const appends = Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).append(5, message(`y${i}`), limits));
      const [acked, appended] = await Promise.all([Promise.all(acks), Promise.all(appends)]);
      expect(acked.flat().map((e) => e.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      const dropped = appended.reduce((n, r) => n + r.dropped, 0);
      const pending = await a.pending(5, 0, 1000);
      // Every x was acked exactly once, every y remains, and the counter row agrees with the rows.
      expect(pending.map((e) => e.msgId).sort()).toEqual(Array.from({ length: 100 }, (_, i) => `y${i}`).sort());
      expect(dropped).toBe(0);
      const box = await pool.query<{ pending: number }>("SELECT pending FROM cim_inbox_boxes WHERE user_id = 5 AND device = ''");
      expect(box.rows[0]!.pending).toBe(100);
    } finally {
      await other.end();
    }
  });
});

describe('SqlInboxStore devices under concurrency', () => {
  it('appends from two replicas racing links: each in every device linked before it started, seqs gapless', async () => {
    await pool.query(`TRUNCATE ${TABLES}`);
    const other = createPool(postgres.url, { max: 20 });
    try {
      const stores = [new SqlInboxStore(pool), new SqlInboxStore(other)] as const;
      const seqs = async (user: number, device: string) => (await stores[1].pending(user, 0, 1000, device)).map((e) => e.seq);
      const wave = (user: number, from: number) => Promise.all(range(from, from + 99).map((i) => stores[i % 2]!.append(user, message(`w${i}`), LIMITS)));
      await stores[0].linkDevice(9, 'a', devs(NOW + 1));
      await stores[1].linkDevice(9, 'b', devs(NOW + 2));
      // Wave 1 races the links of c and d (on different replicas, so one of them plans again); wave 2 starts after both.
      const [first] = await Promise.all([wave(9, 0), stores[0].linkDevice(9, 'c', devs(NOW + 3)), stores[1].linkDevice(9, 'd', devs(NOW + 4))]);
      const second = await wave(9, 100);
      const all = [...first, ...second];
      expect(all.filter((r) => r.duplicate || r.refused !== undefined || r.dropped > 0)).toHaveLength(0);
      expect(all.map((r) => r.seq).sort((x, y) => x - y)).toEqual(range(1, 200));
      expect(await seqs(9, 'a')).toEqual(range(1, 200));
      expect(await seqs(9, 'b')).toEqual(range(1, 200));
      for (const d of ['c', 'd']) {
        // Every append after the link, none before it: a suffix of the seqs, holding all of wave 2.
        const got = await seqs(9, d);
        expect(got.length).toBeGreaterThanOrEqual(100);
        expect(got).toEqual(range(201 - got.length, 200));
        for (const r of second) expect(got).toContain(r.seq);
      }
      expect((await stores[0].devices(9)).map((d) => d.device)).toEqual(['d', 'c', 'b', 'a']);
      expect(await rowCount('cim_inbox_ids', 'user_id = 9')).toBe(200);
      // Each device's pending count agrees with its rows.
      const boxes = await pool.query<{ device: string; pending: number; n: string }>(
        'SELECT b.device, b.pending, (SELECT count(*) FROM cim_inbox_entries e WHERE e.user_id = b.user_id AND e.device = b.device) AS n FROM cim_inbox_boxes b WHERE b.user_id = 9',
      );
      expect(boxes.rows).toHaveLength(4);
      for (const b of boxes.rows) expect(b.pending).toBe(Number(b.n));

      // The first link racing appends: the device inherits what reached the default inbox before it and gets the rest.
      await Promise.all([wave(10, 0), stores[1].linkDevice(10, 'p', devs(NOW))]);
      expect(await seqs(10, 'p')).toEqual(range(1, 100));
      expect(await seqs(10, '')).toEqual([]);
      expect(await rowCount('cim_inbox_entries', 'user_id = 10')).toBe(100);
    } finally {
      await other.end();
    }
  });
});

describe('SqlInboxStore rows', () => {
  it('sweeps expired inboxes (keeping their seq counters) and skips a row that is not an entry', async () => {
    await pool.query(`TRUNCATE ${TABLES}`);
    const clock = new ManualClock();
    const store = new SqlInboxStore(pool, clock);
    for (let u = 1; u <= 3; u++) await store.append(u, message('m'), { ...LIMITS, ttlMs: 1000 });
    clock.advance(500);
    await store.append(4, message('m'), { ...LIMITS, ttlMs: 1000 });
    clock.advance(600); // inboxes 1-3 expired, 4 lives
    expect(await store.sweep(2)).toBe(2);
    expect(await store.sweep()).toBe(1);
    expect(await store.sweep()).toBe(0);
    expect(await rowCount('cim_inbox_entries')).toBe(1);
    expect(await rowCount('cim_inbox_ids')).toBe(1);
    expect(await rowCount('cim_inbox_counters')).toBe(4);
    expect(await store.maxSeq(1)).toBe(1);

    await pool.query("INSERT INTO cim_inbox_entries (user_id, seq, sender_id, body) VALUES (4, 2, 7, 'not json'), (4, 3, 7, '{}'), (4, 4, 7, '{\"msgId\":\"no sender\"}')");
    expect((await store.pending(4, 0, 10)).map((e) => e.seq)).toEqual([1]);
    expect((await store.ack(4, [1, 2, 3, 4])).map((e) => e.seq)).toEqual([1]);
    expect(await rowCount('cim_inbox_entries')).toBe(0);
  });

  it("expires each device's inbox on its own and sweeps it while the user's other device lives", async () => {
    await pool.query(`TRUNCATE ${TABLES}`);
    const clock = new ManualClock(NOW);
    const store = new SqlInboxStore(pool, clock);
    const limits = { ...LIMITS, ttlMs: 1000 };
    await store.linkDevice(3, 'a', devs(NOW));
    await store.linkDevice(3, 'b', devs(NOW));
    await store.append(3, message('m1'), limits);
    clock.advance(600);
    // A carbon copy of a's send refreshes b's inbox only.
    expect((await store.append(3, { ...message('c1', 3), carbonTo: 7 }, limits, { exceptDevice: 'a' })).seq).toBe(2);
    clock.advance(600); // a's inbox expired, b's and the id index live
    expect(await store.pending(3, 0, 10, 'a')).toEqual([]);
    expect((await store.pending(3, 0, 10, 'b')).map((e) => e.seq)).toEqual([1, 2]);
    expect(await store.sweep()).toBe(1);
    expect(await store.sweep()).toBe(0);
    expect(await rowCount('cim_inbox_entries', "device = 'a'")).toBe(0);
    expect(await rowCount('cim_inbox_entries', "device = 'b'")).toBe(2);
    expect(await store.append(3, message('m1'), limits)).toEqual({ seq: 1, duplicate: true, dropped: 0 });
    clock.advance(500); // everything expired
    expect(await store.sweep()).toBe(1);
    for (const table of ['cim_inbox_entries', 'cim_inbox_boxes', 'cim_inbox_ids']) expect(await rowCount(table)).toBe(0);
    expect(await rowCount('cim_inbox_devices')).toBe(2); // links end by idleMs at a later link, not by the inbox ttl
    expect(await store.maxSeq(3)).toBe(2);
  });
});

describe('a cluster with --offline-store postgres', () => {
  let cluster: TestCluster;
  let url: string;
  const clients: CimClient[] = [];
  beforeAll(async () => {
    url = await postgres.createDatabase('cluster_store');
    const sqlArgs = ['--offline-store', 'postgres', '--postgres-url', url];
    cluster = await startCluster({ servers: 2, auth: 'password', authSecret: 'sql-store-secret', serverArgs: sqlArgs, routeArgs: sqlArgs });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await cluster?.stop();
  });

  it('stores messages to an offline user in PostgreSQL (not Redis) and delivers each once after login; history pages from PostgreSQL', async () => {
    const api = routeApi(cluster.routeUrl);
    const receiverId = (await api.register('sql-receiver')).dataBody.userId;
    const sender = (await api.register('sql-sender')).dataBody.userId;
    const login = await api.login(sender, 'sql-sender', 2);
    const texts = Array.from({ length: 5 }, (_, i) => `offline-${i}`);
    for (const text of texts) expect((await api.p2p(sender, receiverId, text, login.dataBody!.token!)).code).toBe('7000'); // 7000: stored for later

    const db = createPool(url);
    const redis = new Redis(cluster.redisUrl);
    try {
      const stored = await db.query<{ n: string }>('SELECT count(*) AS n FROM cim_inbox_entries WHERE user_id = $1', [receiverId]);
      expect(Number(stored.rows[0]!.n)).toBe(5);
      expect(await redis.keys('*inbox*')).toEqual([]);

      const received: ChatMessage[] = [];
      const receiver = await createClient({ routeUrl: cluster.routeUrl, userName: 'sql-receiver', password: TEST_PASSWORD, onMessage: (m) => received.push(m) });
      clients.push(receiver);
      await expect.poll(() => received.length).toBe(5);
      expect(received.map((m) => m.text)).toEqual(texts);
      // Acknowledged (receipts are batched): the rows leave PostgreSQL.
      await expect.poll(async () => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM cim_inbox_entries WHERE user_id = $1', [receiverId])).rows[0]!.n)).toBe(0);
      expect(received).toHaveLength(5);

      const history = await receiver.history(sender, { limit: 10 });
      expect(history.messages.map((m) => m.text)).toEqual(texts);
      expect(Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM cim_history_entries')).rows[0]!.n)).toBe(5);
    } finally {
      redis.disconnect();
      await db.end();
    }
  });
});
