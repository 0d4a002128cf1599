/**
 * The per-sender inbox bound on a real cluster (redis-server, 2 cim-servers, cim-route as processes): one
 * spammer sends 1000 messages to an offline victim, a friend sends 5. Counted: the spammer gets SENT for
 * exactly --inbox-max-per-sender of them and 7310 for every other (no other answer), the route's
 * cim_inbox_refused_total{reason="per-sender"} says the same, and the victim, logging in afterwards,
 * receives all 5 of the friend's and exactly the spammer's first N.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ChatMessage, type CimClient } from '../../services/client/src/index.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { routeApi, TEST_PASSWORD } from '../harness/route-api.ts';
import { metricSample } from '../harness/metrics.ts';

const PER_SENDER = 50;
const SPAM = 1000;
const FRIEND = 5;
let cluster: TestCluster;
let api: ReturnType<typeof routeApi>;
const clients: CimClient[] = [];

beforeAll(async () => {
  const bound = ['--inbox-max', '100', '--inbox-max-per-sender', String(PER_SENDER)];
  cluster = await startCluster({ servers: 2, auth: 'password', authSecret: 'per-sender-secret', routeArgs: bound, serverArgs: bound });
  api = routeApi(cluster.routeUrl);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cluster?.stop();
});

async function loggedIn(userName: string): Promise<{ userId: number; token: string }> {
  const reg = await api.register(userName);
  expect(reg.code).toBe('9000');
  const login = await api.login(reg.dataBody.userId, userName, 2);
  expect(login.code).toBe('9000');
  return { userId: reg.dataBody.userId, token: login.dataBody!.token! };
}

/** A counter of the route's /metrics (the registry adds `component` to every sample). */
const metric = (name: string, labels: readonly string[] = []) => metricSample(`${cluster.routeUrl}/metrics`, name, labels);

describe('per-sender inbox bound', () => {
  it('keeps a friend\'s messages when a spammer sends 1000 to an offline user; the spammer is refused with 7310, counted', async () => {
    const victimId = (await api.register('victim')).dataBody.userId;
    const spammer = await loggedIn('spammer');
    const friend = await loggedIn('friend');

    // 10 at a time: the bound must hold under concurrent appends too.
    const answers: string[] = [];
    for (let i = 0; i < SPAM; i += 10) {
      const batch = await Promise.all(Array.from({ length: 10 }, (_, j) => api.p2p(spammer.userId, victimId, `spam-${i + j}`, spammer.token)));
      answers.push(...batch.map((a) => a.code));
    }
    for (let i = 0; i < FRIEND; i++) expect((await api.p2p(friend.userId, victimId, `friend-${i}`, friend.token)).code).toBe('7000');

    const counts = answers.reduce<Record<string, number>>((acc, c) => ({ ...acc, [c]: (acc[c] ?? 0) + 1 }), {});
    expect(counts).toEqual({ '7000': PER_SENDER, '7310': SPAM - PER_SENDER });
    expect(await metric('cim_inbox_refused_total', ['reason="per-sender"'])).toBe(SPAM - PER_SENDER);
    expect(await metric('cim_inbox_dropped_total')).toBe(0);

    // The victim logs in: the friend's 5 and exactly N of the spam, nothing pushed out.
    const inbox: ChatMessage[] = [];
    const victim = await createClient({ routeUrl: cluster.routeUrl, userName: 'victim', password: TEST_PASSWORD, onMessage: (m) => inbox.push(m) });
    clients.push(victim);
    await expect.poll(() => inbox.length).toBe(PER_SENDER + FRIEND);
    const fromFriend = inbox.filter((m) => m.from.userName === 'friend').map((m) => m.text);
    const fromSpammer = inbox.filter((m) => m.from.userName === 'spammer');
    expect(fromFriend).toEqual(Array.from({ length: FRIEND }, (_, i) => `friend-${i}`));
    expect(fromSpammer).toHaveLength(PER_SENDER);
    expect(new Set(fromSpammer.map((m) => m.text)).size).toBe(PER_SENDER);

    // Once the victim has acknowledged them (receipts are batched), the spammer's room is free again: delivered live.
    await expect.poll(async () => (await api.p2p(spammer.userId, victimId, 'after-reading', spammer.token)).code).toBe('9000');
    await expect.poll(() => inbox.map((m) => m.text)).toContain('after-reading');
  });
});
