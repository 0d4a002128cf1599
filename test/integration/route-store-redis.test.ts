import { afterAll, beforeAll } from 'vitest';
import { startRedisServer, type RedisInstance } from '../../services/common/src/infra/redis-server.ts';
import { RedisRouteStore } from '../../services/common/src/route-store/redis.ts';
import { describeAccountStoreContract } from '../contracts/account-store.ts';
import { describePresenceStoreContract } from '../contracts/presence-store.ts';

let redis: RedisInstance;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

const create = async () => {
  const store = new RedisRouteStore(redis.url);
  await store.client.flushall(); // each test owns this private redis-server; tests in a file run serially
  return {
    store,
    advance: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)), // Redis expires keys on its own clock
    close: () => store.close(),
  };
};

describeAccountStoreContract('redis', create);
describePresenceStoreContract('redis', create);
