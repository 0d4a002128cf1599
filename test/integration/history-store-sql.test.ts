/**
 * The SQL history backend (services/common/src/history/sql.ts) on a real PostgreSQL started for this file: the
 * HistoryStore contract suite, appends of one conversation from two "replicas" (pools) at once, and the sweep.
 * (The cluster with --offline-store postgres paging its history: inbox-store-sql.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../services/common/src/clock.ts';
import { SqlHistoryStore } from '../../services/common/src/history/sql.ts';
import { groupConversation, privateConversation, type HistoryLimits, type HistoryMessage } from '../../services/common/src/history/types.ts';
import { startPostgresServer, type PostgresInstance } from '../../services/common/src/infra/postgres-server.ts';
import { migrate } from '../../services/common/src/sql/migrate.ts';
import { createPool, type SqlPool } from '../../services/common/src/sql/pool.ts';
import { describeHistoryStoreContract } from '../contracts/history-store.ts';

let postgres: PostgresInstance;
let pool: SqlPool;
beforeAll(async () => {
  postgres = await startPostgresServer();
  pool = createPool(postgres.url, { max: 20 });
  await migrate(pool);
});
afterAll(async () => {
  await pool?.end();
  await postgres?.stop();
});

const TABLES = 'cim_history_counters, cim_history_entries, cim_history_ids';
const rowCount = async (table: string): Promise<number> => Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);

describeHistoryStoreContract('postgres', async () => {
  await pool.query(`TRUNCATE ${TABLES}`); // tests in a file run serially
  const clock = new ManualClock();
  return { store: new SqlHistoryStore(pool, clock), advance: async (ms) => clock.advance(ms), close: async () => undefined };
});

const LIMITS: HistoryLimits = { maxEntries: 100, ttlMs: 60_000 };
const CONV = privateConversation(11, 12);
const message = (msgId: string, from = 11): HistoryMessage => ({ msgId, from: { userId: from, userName: `u${from}` }, to: from === 11 ? 12 : 11, text: `text ${msgId}`, sentAt: 1 });

describe('SqlHistoryStore under concurrency', () => {
  it('200 appends from two replicas at once, both directions, 40 retries: 160 stored with seqs 1..160, the newest 100 kept', async () => {
    await pool.query(`TRUNCATE ${TABLES}`);
    const other = createPool(postgres.url, { max: 20 });
    try {
      const stores = [new SqlHistoryStore(pool), new SqlHistoryStore(other)];
      const sends = [
        ...Array.from({ length: 160 }, (_, i) => ({ id: `h${i}`, from: i % 2 ? 12 : 11 })),
        ...Array.from({ length: 40 }, (_, i) => ({ id: `h${i * 4}`, from: (i * 4) % 2 ? 12 : 11 })),
      ];
      const order = sends.map((s, i) => ({ ...s, key: (i * 7919) % sends.length })).sort((a, b) => a.key - b.key);
      const results = await Promise.all(order.map((s, i) => stores[i % 2]!.append(CONV, message(s.id, s.from), LIMITS).then((r) => ({ id: s.id, ...r }))));

      const stored = results.filter((r) => !r.duplicate);
      expect(stored).toHaveLength(160);
      expect(results.filter((r) => r.duplicate)).toHaveLength(40);
      expect(stored.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 160 }, (_, i) => i + 1));
      const seqOf = new Map(stored.map((r) => [r.id, r.seq]));
      for (const r of results.filter((x) => x.duplicate)) expect(r.seq).toBe(seqOf.get(r.id));

      // Paged back: exactly seqs 61..160 (the newest 100), each once, each with the message its append stored.
      const seen: number[] = [];
      let before: number | undefined;
      for (;;) {
        const page = await stores[1]!.page(CONV, before, 30);
        if (page.length === 0) break;
        for (const e of page) expect(seqOf.get(e.msgId)).toBe(e.seq);
        seen.unshift(...page.map((e) => e.seq));
        before = page[0]!.seq;
      }
      expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i + 61));
      expect(await rowCount('cim_history_entries')).toBe(100);
      expect(await rowCount('cim_history_ids')).toBe(160); // 2 x maxEntries remembered: all 160
    } finally {
      await other.end();
    }
  });
});

describe('SqlHistoryStore rows', () => {
  it('sweeps expired conversations (keeping their counters), skips rows that are not entries, keeps group conversations apart', async () => {
    await pool.query(`TRUNCATE ${TABLES}`);
    const clock = new ManualClock();
    const store = new SqlHistoryStore(pool, clock);
    await store.append(CONV, message('a'), { ...LIMITS, ttlMs: 1000 });
    await store.append(groupConversation(5), { ...message('g'), to: 5 }, { ...LIMITS, ttlMs: 5000 });
    clock.advance(1000);
    expect(await store.sweep()).toBe(1);
    expect(await store.sweep()).toBe(0);
    expect(await rowCount('cim_history_entries')).toBe(1);
    expect(await rowCount('cim_history_counters')).toBe(2);
    expect((await store.append(CONV, message('b'), LIMITS)).seq).toBe(2);

    await pool.query("INSERT INTO cim_history_entries (conversation, seq, body) VALUES ($1, 3, 'not json'), ($1, 4, '{\"msgId\":\"x\"}')", [CONV]);
    expect((await store.page(CONV, undefined, 10)).map((e) => [e.seq, e.msgId])).toEqual([[2, 'b']]);
    expect((await store.page(groupConversation(5), undefined, 10)).map((e) => [e.seq, e.to])).toEqual([[1, 5]]);
  });
});
