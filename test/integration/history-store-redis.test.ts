import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { RedisHistoryStore } from '../../services/common/src/history/redis.ts';
import { startRedisServer, type RedisInstance } from '../../services/common/src/infra/redis-server.ts';
import { describeHistoryStoreContract } from '../contracts/history-store.ts';

let redis: RedisInstance;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

describeHistoryStoreContract('redis', async () => {
  const client = new Redis(redis.url, { enableAutoPipelining: true });
  await client.flushall(); // each test owns this private redis-server; tests in a file run serially
  return {
    store: new RedisHistoryStore(client),
    advance: (ms) => new Promise<void>((r) => setTimeout(r, ms)), // Redis expires keys on its own clock
    close: async () => void (await client.quit()),
  };
});
