/**
 * Every Redis store contract on a real 3-master Redis Cluster (infra/redis-cluster.ts), one cluster for the
 * file; proof that different users' keys land on different masters; and private messages end to end through
 * real cim-servers and a cim-route whose --redis-url is the cluster's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisAuthStore } from '../../services/common/src/auth-store-redis.ts';
import { Command } from '../../services/common/src/codec.ts';
import { RedisContactStore } from '../../services/common/src/contacts/redis.ts';
import { RedisGroupStore } from '../../services/common/src/groups/redis.ts';
import { RedisHistoryStore } from '../../services/common/src/history/redis.ts';
import { RedisInboxStore } from '../../services/common/src/inbox/redis.ts';
import { startRedisCluster, type RedisClusterInstance } from '../../services/common/src/infra/redis-cluster.ts';
import { keys } from '../../services/common/src/keys.ts';
import { createRedisClient, isCluster, scanTargets, type RedisClient } from '../../services/common/src/redis-client.ts';
import { RedisRouteStore } from '../../services/common/src/route-store/redis.ts';
import { describeAccountStoreContract } from '../contracts/account-store.ts';
import { describeAuthStoreContract } from '../contracts/auth-store.ts';
import { describeContactStoreContract } from '../contracts/contact-store.ts';
import type { StoreFixture } from '../contracts/fixture.ts';
import { describeGroupStoreContract } from '../contracts/group-store.ts';
import { describeHistoryStoreContract } from '../contracts/history-store.ts';
import { describeInboxDevicesContract } from '../contracts/inbox-devices.ts';
import { describeInboxStoreContract } from '../contracts/inbox-store.ts';
import { describePresenceStoreContract } from '../contracts/presence-store.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { connectWs, type RawClient } from '../harness/raw-client.ts';
import { routeApi } from '../harness/route-api.ts';

let redis: RedisClusterInstance;
beforeAll(async () => {
  redis = await startRedisCluster();
}, 60_000);
afterAll(async () => {
  await redis?.stop();
});

const wait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms)); // Redis expires keys on its own clock

/** A fresh cluster client over emptied masters; tests in a file run serially. */
async function clusterFixture<S>(build: (client: RedisClient) => S): Promise<StoreFixture<S>> {
  await redis.flushAll();
  const client = createRedisClient(redis.url);
  return { store: build(client), advance: wait, close: async () => void (await client.quit()) };
}

const routeStore = async () => {
  await redis.flushAll();
  const store = new RedisRouteStore(redis.url);
  return { store, advance: wait, close: () => store.close() };
};

describeAccountStoreContract('redis cluster', routeStore);
describePresenceStoreContract('redis cluster', routeStore);
describeInboxStoreContract('redis cluster', () => clusterFixture((c) => new RedisInboxStore(c)));
describeInboxDevicesContract('redis cluster', () => clusterFixture((c) => new RedisInboxStore(c)));
describeHistoryStoreContract('redis cluster', () => clusterFixture((c) => new RedisHistoryStore(c)));
describeGroupStoreContract('redis cluster', () => clusterFixture((c) => new RedisGroupStore(c)));
describeContactStoreContract('redis cluster', () => clusterFixture((c) => new RedisContactStore(c)));
describeAuthStoreContract('redis cluster', () => clusterFixture((c) => new RedisAuthStore(c)));

describe('the cluster is really used', () => {
  it('puts different users on different masters, and each user\'s inbox keys on one', async () => {
    const routes = new RedisRouteStore(redis.url);
    try {
      await redis.flushAll();
      expect(isCluster(routes.client)).toBe(true);
      const inbox = new RedisInboxStore(routes.client);
      const users = await Promise.all(Array.from({ length: 30 }, (_, i) => routes.registerAccount(`spread-${i}`)));
      const m = { msgId: 'm1', from: { userId: 1, userName: 's' }, text: 'hi', sentAt: 1, chatType: 'private' as const };
      for (const u of users) {
        expect(await inbox.append(u.userId, m, { maxEntries: 10, ttlMs: 60_000 })).toEqual({ seq: 1, duplicate: false, dropped: 0 });
        expect(await routes.login(u.userId, 'h:1:2', 60_000)).toEqual({ ok: true });
      }
      const inboxMasters = await Promise.all(users.map((u) => redis.masterOf(keys.inbox(u.userId))));
      expect(new Set(inboxMasters).size).toBe(3);
      for (const [i, u] of users.entries()) expect(await redis.masterOf(keys.inboxSeq(u.userId))).toBe(inboxMasters[i]);
      expect(new Set(await Promise.all(users.map((u) => redis.masterOf(keys.route(u.userId))))).size).toBe(3);
      // Every master holds data: 30 users' accounts, routes and inboxes are spread, not on one node.
      const sizes = await Promise.all(scanTargets(routes.client).map((n) => n.dbsize()));
      expect(sizes).toHaveLength(3);
      for (const s of sizes) expect(s).toBeGreaterThan(10);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(await countKeys(routes.client));
      expect((await routes.onlineUsers()).map((a) => a.userId).sort()).toEqual(users.map((u) => u.userId).sort());
    } finally {
      await routes.close();
    }
  });

  it('refuses a URL it cannot use, naming the forms it knows', () => {
    expect(() => new RedisRouteStore('redis-cluster://')).toThrow(/redis-cluster:\/\//);
    expect(() => new RedisRouteStore('redis-cluster://h:99999')).toThrow(/bad host/);
    expect(() => new RedisRouteStore('redis-cluster://h:1/2')).toThrow(/no path/);
  });
});

/** Keys on every master, counted by SCAN (a cluster's SCAN is per node). */
async function countKeys(client: RedisClient): Promise<number> {
  let n = 0;
  for (const node of scanTargets(client)) {
    for await (const batch of node.scanStream({ count: 500 }) as AsyncIterable<string[]>) n += batch.length;
  }
  return n;
}

describe('cim-servers and a cim-route on the Redis Cluster', () => {
  let cluster: TestCluster;
  const clients: RawClient[] = [];
  beforeAll(async () => {
    await redis.flushAll();
    cluster = await startCluster({ servers: 2, redisUrl: redis.url });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await cluster?.stop();
  });

  it('delivers every private message exactly once between users on two servers', async () => {
    const api = routeApi(cluster.routeUrl);
    const online = async (name: string) => {
      const { userId } = (await api.register(name)).dataBody;
      const login = await api.login(userId, name, 2);
      expect(login.code, JSON.stringify(login)).toBe('9000');
      const s = login.dataBody!;
      const client = await connectWs(`ws://${s.ip}:${s.httpPort}${s.wsPath}`);
      clients.push(client);
      client.login(userId, name, { protocol: '2', token: s.token ?? '' });
      const reply = await client.next((f) => f.cmd === Command.LOGIN_RESPONSE).catch((err: Error) => {
        throw new Error(`${err.message}\nservers:\n${cluster.servers.map((sv) => sv.process.output(15)).join('\n')}`);
      });
      expect(reply.properties['code']).toBe('9000');
      return { userId, client };
    };
    const users = await Promise.all(['ann', 'ben', 'cat', 'dan'].map(online));
    expect(new Set(await Promise.all(users.map((u) => redis.masterOf(keys.inbox(u.userId))))).size).toBeGreaterThan(1);
    const PER_PAIR = 5;
    let sent = 0;
    for (const from of users) {
      for (const to of users) {
        if (from === to) continue;
        for (let i = 0; i < PER_PAIR; i++) {
          expect((await api.p2p(from.userId, to.userId, `m-${from.userId}-${to.userId}-${i}`)).code).toBe('9000');
          sent++;
        }
      }
    }
    for (const to of users) {
      for (const from of users) {
        if (from !== to) for (let i = 0; i < PER_PAIR; i++) await to.client.next((f) => f.cmd === Command.MESSAGE && f.reqMsg === `m-${from.userId}-${to.userId}-${i}`);
      }
    }
    const received = users.reduce((n, u) => n + u.client.frames.filter((f) => f.cmd === Command.MESSAGE).length, 0);
    expect(sent).toBe(4 * 3 * PER_PAIR);
    expect(received).toBe(sent);
    expect((await api.onlineUsers()).dataBody?.length).toBe(4);
  });
});
