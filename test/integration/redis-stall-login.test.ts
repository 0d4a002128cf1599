/**
 * The servers' Redis stalls (as right after a Redis pod is replaced: a connect to the old address hangs) while
 * a user logs in; the route's Redis works. The server cannot finish the LOGIN_REQUEST within the login
 * timeout, the SDK retries; once Redis answers again the user must be logged in, and after a logout must be
 * able to log in again at once: no route left behind that answers "Repeat login" (5000).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type CimClient } from '../../services/client/src/index.ts';
import { FaultProxy } from '../../services/client/src/testing/fault-proxy.ts';
import { startRedisServer, type RedisInstance } from '../../services/common/src/infra/redis-server.ts';
import { TEST_PASSWORD } from '../harness/route-api.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';

let redis: RedisInstance;
let proxy: FaultProxy;
let cluster: TestCluster;
const clients: CimClient[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  proxy = await FaultProxy.start(redis.port);
  cluster = await startCluster({ servers: 2, redisUrl: redis.url, authSecret: 'redis-stall-secret', logLevel: 'debug', serverArgs: ['--redis-url', `redis://127.0.0.1:${proxy.port}`] });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cluster?.stop();
  await proxy?.stop();
  await redis?.stop();
});

async function login(userName: string): Promise<CimClient> {
  const client = await createClient({ routeUrl: cluster.routeUrl, userName, password: TEST_PASSWORD, backoff: { initialDelayMs: 200, maxDelayMs: 1_000 }, connectAttempts: 10 });
  clients.push(client);
  return client;
}

describe("a login while the servers' Redis stalls", { timeout: 60_000 }, () => {
  it('completes once Redis answers, and after a logout the user logs in again at once (no 5000)', async () => {
    const warm = await login('stall-warm');
    await warm.close();
    let logins = 0;
    let repeats = 0;
    for (let round = 0; round < 3; round++) {
      proxy.stall();
      const resumed = setTimeout(() => proxy.release(), 7_000);
      try {
        const first = await login('stall-user');
        logins++;
        await first.close();
        const again = await login('stall-user');
        logins++;
        await again.close();
      } catch (err) {
        if ((err as { serverCode?: string }).serverCode !== '5000') throw err;
        repeats++;
        // What the route saw: the user's route and its remaining TTL, and what the components logged.
        const probe = new Redis(redis.url);
        const userId = Number(await probe.hget('cim-account-names', 'stall-user'));
        const route = await probe.get(`cim-route:${userId}`);
        const ttl = await probe.pttl(`cim-route:${userId}`);
        probe.disconnect();
        const logs = [cluster.route, ...cluster.servers].map((c) => c.process.output(60).split('\n').filter((l) => l.includes(String(userId)) || l.includes('"level":4') || l.includes('"level":5')).join('\n'));
        process.stdout.write(`redis-stall: round ${round}: 5000 for user ${userId}; route ${route} (pttl ${ttl} ms); servers ${cluster.servers.map((x) => x.address).join(' ')}\n${logs.join('\n---\n')}\n`);
      } finally {
        clearTimeout(resumed);
        proxy.release();
      }
    }
    expect({ logins, repeats }).toEqual({ logins: 6, repeats: 0 });
  });
});
