import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { RedisContactStore } from '../../services/common/src/contacts/redis.ts';
import { startRedisServer, type RedisInstance } from '../../services/common/src/infra/redis-server.ts';
import { describeContactStoreContract } from '../contracts/contact-store.ts';

let redis: RedisInstance;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

describeContactStoreContract('redis', async () => {
  const client = new Redis(redis.url, { enableAutoPipelining: true });
  await client.flushall(); // each test owns this private redis-server; tests in a file run serially
  return {
    store: new RedisContactStore(client),
    advance: (ms) => new Promise<void>((r) => setTimeout(r, ms)),
    close: async () => void (await client.quit()),
  };
});
