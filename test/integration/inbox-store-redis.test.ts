import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisInboxStore } from '../../services/common/src/inbox/redis.ts';
import { startRedisServer, type RedisInstance } from '../../services/common/src/infra/redis-server.ts';
import { keys } from '../../services/common/src/keys.ts';
import { RedisRouteStore } from '../../services/common/src/route-store/redis.ts';
import { describeInboxDevicesContract } from '../contracts/inbox-devices.ts';
import { describeInboxStoreContract } from '../contracts/inbox-store.ts';

let redis: RedisInstance;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

describeInboxStoreContract('redis', async () => {
  const client = new Redis(redis.url, { enableAutoPipelining: true });
  await client.flushall(); // each test owns this private redis-server; tests in a file run serially
  return {
    store: new RedisInboxStore(client),
    advance: (ms) => new Promise<void>((r) => setTimeout(r, ms)), // Redis expires keys on its own clock
    close: async () => void (await client.quit()),
  };
});

describeInboxDevicesContract('redis', async () => {
  const client = new Redis(redis.url, { enableAutoPipelining: true });
  await client.flushall();
  return { store: new RedisInboxStore(client), advance: (ms) => new Promise<void>((r) => setTimeout(r, ms)), close: async () => void (await client.quit()) };
});

describe('RedisInboxStore on a shared connection', () => {
  it('runs beside the route store on its client, with keys hash-tagged per user', async () => {
    const routes = new RedisRouteStore(redis.url);
    try {
      await routes.client.flushall();
      const inbox = new RedisInboxStore(routes.client);
      const { userId } = await routes.registerAccount('shared');
      const m = { msgId: 'm1', from: { userId: 7, userName: 's' }, text: 'hi', sentAt: 1, chatType: 'private' as const };
      expect(await inbox.append(userId, m, { maxEntries: 10, ttlMs: 60_000 })).toEqual({ seq: 1, duplicate: false, dropped: 0 });
      expect(await routes.login(userId, 'h:1:2', 60_000)).toEqual({ ok: true });
      expect(await inbox.pending(userId, 0, 10)).toEqual([{ ...m, seq: 1 }]);

      const inboxKeys = [keys.inbox(userId), keys.inboxSeq(userId), keys.inboxIds(userId)];
      // Redis Cluster hashes only what is between the first '{' and the next '}': the user id, for all three.
      const hashTag = (k: string) => k.slice(k.indexOf('{') + 1, k.indexOf('}', k.indexOf('{')));
      expect(inboxKeys.map(hashTag)).toEqual([String(userId), String(userId), String(userId)]);
      expect(await routes.client.exists(...inboxKeys)).toBe(3);
      expect(await routes.client.pttl(keys.inboxSeq(userId))).toBe(-1); // the counter never expires
      expect(await routes.client.pttl(keys.inbox(userId))).toBeGreaterThan(0);

      // A store built on a shared client leaves closing it to the client's owner.
      const borrower = new RedisRouteStore(routes.client);
      expect(await borrower.getRoute(userId)).toBe('h:1:2');
      await borrower.close();
      expect(await routes.client.ping()).toBe('PONG');
    } finally {
      await routes.close();
    }
  });

  it('skips a member that is not an entry instead of failing the read', async () => {
    const client = new Redis(redis.url);
    try {
      await client.flushall();
      const inbox = new RedisInboxStore(client);
      const m = { msgId: 'ok', from: { userId: 7, userName: 's' }, text: 'fine', sentAt: 1, chatType: 'private' as const };
      await inbox.append(5, m, { maxEntries: 10, ttlMs: 60_000 });
      await client.zadd(keys.inbox(5), 2, 'not json', 3, '{"seq":3}');
      expect(await inbox.pending(5, 0, 10)).toEqual([{ ...m, seq: 1 }]);
      expect(await inbox.ack(5, [1, 2, 3])).toEqual([{ ...m, seq: 1 }]);
      expect(await client.zcard(keys.inbox(5))).toBe(0);
    } finally {
      await client.quit();
    }
  });
});
