/** The AuthStore contract on a real redis-server. */
import { afterAll, beforeAll } from 'vitest';
import { Redis } from 'ioredis';
import { describeAuthStoreContract } from '../contracts/auth-store.ts';
import { RedisAuthStore } from '../../services/common/src/auth-store-redis.ts';
import { startRedisServer, type RedisInstance } from '../../services/common/src/infra/redis-server.ts';

let redis: RedisInstance;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

describeAuthStoreContract('redis', async () => {
  const client = new Redis(redis.url, { maxRetriesPerRequest: 2 });
  await client.flushall(); // each test owns this private redis-server; tests in a file run serially
  return { store: new RedisAuthStore(client), advance: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)), close: async () => void (await client.quit()) };
});
