import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { RedisGroupStore } from '../../services/common/src/groups/redis.ts';
import { startRedisServer, type RedisInstance } from '../../services/common/src/infra/redis-server.ts';
import { describeGroupStoreContract } from '../contracts/group-store.ts';

let redis: RedisInstance;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

describeGroupStoreContract('redis', async () => {
  const client = new Redis(redis.url, { enableAutoPipelining: true });
  await client.flushall(); // each test owns this private redis-server; tests in a file run serially
  return {
    store: new RedisGroupStore(client),
    advance: (ms) => new Promise<void>((r) => setTimeout(r, ms)),
    close: async () => void (await client.quit()),
  };
});
