import { afterAll, beforeAll } from 'vitest';
import { startRedisServer, type RedisInstance } from '../../services/common/src/infra/redis-server.ts';
import { RedisRouteStore } from '../../services/common/src/route-store/redis.ts';
import { describeRouteStoreContract } from '../contracts/route-store.ts';

let redis: RedisInstance;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

describeRouteStoreContract('redis', async () => {
  const store = new RedisRouteStore(redis.url);
  await store.client.flushall(); // each test owns this private redis-server; tests in a file run serially
  return {
    store,
    advance: (ms) => new Promise((r) => setTimeout(r, ms)), // Redis expires keys on its own clock
    close: () => store.close(),
  };
});
