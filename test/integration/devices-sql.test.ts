/**
 * Several devices per user on the PostgreSQL inbox (--login-policy multi --offline-store postgres, docs/delivery.md
 * "Several devices"), real processes: route + server, Redis, ZooKeeper and a PostgreSQL started for this file.
 * Both of alice's devices get each of bob's messages once under one seq; while the laptop is away its inbox rows
 * in PostgreSQL hold exactly bob's messages and the phone's carbon copies, and it gets exactly those back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ChatMessage, type CimClient } from '../../services/client/src/index.ts';
import { startPostgresServer, type PostgresInstance } from '../../services/common/src/infra/postgres-server.ts';
import { waitUntil } from '../../services/common/src/infra/ports.ts';
import { createPool, type SqlPool } from '../../services/common/src/sql/pool.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';

const until = (what: string, cond: () => boolean) => waitUntil(what, () => (cond() ? true : undefined), 15_000);
const texts = (ms: readonly ChatMessage[]) => ms.map((m) => m.text);

describe('--login-policy multi with --offline-store postgres', () => {
  let postgres: PostgresInstance;
  let cluster: TestCluster;
  let db: SqlPool;
  const clients: CimClient[] = [];
  beforeAll(async () => {
    postgres = await startPostgresServer();
    db = createPool(postgres.url);
    const args = ['--login-policy', 'multi', '--offline-store', 'postgres', '--postgres-url', postgres.url];
    cluster = await startCluster({ servers: 1, auth: 'password', authSecret: 'devices-sql-secret', serverArgs: args, routeArgs: args });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await cluster?.stop();
    await db?.end();
    await postgres?.stop();
  });

  const connect = async (userName: string, device?: string) => {
    const got: ChatMessage[] = [];
    const c = await createClient({ routeUrl: cluster.routeUrl, userName, password: `${userName}-password`, register: true, onMessage: (m) => void got.push(m), ...(device ? { device } : {}) });
    clients.push(c);
    return { c, got };
  };
  const rows = async (userId: number, device?: string) =>
    Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM cim_inbox_entries WHERE user_id = $1 AND ($2::text IS NULL OR device = $2)', [userId, device ?? null])).rows[0]!.n);

  it("keeps each device's inbox in PostgreSQL: a device that was away gets exactly what waited for it", async () => {
    const phone = await connect('sd-alice', 'phone');
    const laptop = await connect('sd-alice', 'laptop');
    const bob = await connect('sd-bob');
    const aliceId = phone.c.userId!;
    const bobId = bob.c.userId!;
    const linked = await db.query<{ device: string }>('SELECT device FROM cim_inbox_devices WHERE user_id = $1 ORDER BY device', [aliceId]);
    expect(linked.rows.map((r) => r.device)).toEqual(['laptop', 'phone']);

    // bob -> alice: each device gets all 10, once, in order, under the same seqs; both acknowledge theirs.
    const fromBob = Array.from({ length: 10 }, (_, i) => `b${i}`);
    for (const t of fromBob) await bob.c.sendPrivate(aliceId, t);
    await until("both devices got bob's 10", () => phone.got.length >= 10 && laptop.got.length >= 10);
    expect(texts(phone.got)).toEqual(fromBob);
    expect(texts(laptop.got)).toEqual(fromBob);
    expect(laptop.got.map((m) => m.seq)).toEqual(phone.got.map((m) => m.seq));
    await expect.poll(() => rows(aliceId), { timeout: 15_000 }).toBe(0);

    // The laptop goes away: bob's 5 and the phone's 3 (as carbon copies) wait in its inbox rows, not the phone's.
    await laptop.c.close();
    const whileAway = Array.from({ length: 5 }, (_, i) => `w${i}`);
    const fromPhone = Array.from({ length: 3 }, (_, i) => `p${i}`);
    for (const t of whileAway) await bob.c.sendPrivate(aliceId, t);
    for (const t of fromPhone) await phone.c.sendPrivate(bobId, t);
    await until('the phone got 5 and bob 3', () => phone.got.length >= 15 && bob.got.length >= 3);
    await expect.poll(() => rows(aliceId, 'laptop'), { timeout: 15_000 }).toBe(8);
    await expect.poll(() => rows(aliceId, 'phone'), { timeout: 15_000 }).toBe(0);

    const back = await connect('sd-alice', 'laptop');
    await until('the laptop got the 8 back', () => back.got.length >= 8);
    expect(back.got).toHaveLength(8);
    expect(back.got.every((m) => m.replay)).toBe(true);
    expect(texts(back.got.filter((m) => m.carbonTo === undefined))).toEqual(whileAway);
    const copies = back.got.filter((m) => m.carbonTo !== undefined);
    expect(texts(copies)).toEqual(fromPhone);
    expect(copies.every((m) => m.carbonTo === bobId && m.from.userId === aliceId)).toBe(true);
    const seqs = back.got.map((m) => m.seq!);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    await expect.poll(() => rows(aliceId), { timeout: 15_000 }).toBe(0);
    // Counted at the end: nothing echoed to the phone, nothing delivered twice.
    expect(texts(phone.got)).toEqual([...fromBob, ...whileAway]);
    expect(texts(bob.got)).toEqual(fromPhone);
    expect(back.got).toHaveLength(8);
  });
});
