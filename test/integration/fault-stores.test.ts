/**
 * Nothing lost, nothing shown twice, when a store fails: Redis restarted (persistent), Redis stopped for
 * 10 s, ZooKeeper SIGKILLed and restarted five times in a row — while eight SDK clients (WebSocket and
 * TCP) send numbered private messages at a steady rate. No component is restarted by the test.
 */
import { afterEach, describe, it } from 'vitest';
import { startZooKeeper, type ZooKeeperInstance } from '../../services/common/src/infra/zookeeper.ts';
import { waitUntil } from '../../services/common/src/infra/ports.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { expectNothingLost, runFaultScenario } from '../harness/fault-scenario.ts';

const RECOVERY_BOUND_MS = 30_000;

let cluster: TestCluster | undefined;
let zk: ZooKeeperInstance | undefined;
afterEach(async () => {
  await cluster?.stop();
  await zk?.stop();
  cluster = undefined;
  zk = undefined;
});

// The ring of traffic sends ~30 msg/s from each user to one other user; after an outage the retried backlog of
// one pair (~300) lands at once, above the default per-sender share of an inbox (200, a bound for spam, tested
// in inbox-per-sender.test.ts). These cases count losses, so each sender may use the whole inbox here.
const WHOLE_INBOX_PER_SENDER = { serverArgs: ['--inbox-max-per-sender', '1000'], routeArgs: ['--inbox-max-per-sender', '1000'] };

// Each case is a minute of traffic, an outage and a recovery by design; on a loaded 2-core machine more.
describe('faults of stores', { timeout: 180_000 }, () => {
  it('Redis restarted (append-only, fsync always)', async () => {
    cluster = await startCluster({ servers: 2, persistentRedis: true, ...WHOLE_INBOX_PER_SENDER });
    const c = cluster;
    const result = await runFaultScenario({
      name: 'redis-restart',
      routeUrl: c.routeUrl,
      recoveryBoundMs: RECOVERY_BOUND_MS,
      fault: async () => {
        await c.redis.halt('SIGTERM');
        await c.redis.start();
      },
    });
    expectNothingLost(result);
  });

  it('Redis stopped for 10 s', async () => {
    cluster = await startCluster({ servers: 2, persistentRedis: true, ...WHOLE_INBOX_PER_SENDER });
    const c = cluster;
    const result = await runFaultScenario({
      name: 'redis-down-10s',
      routeUrl: c.routeUrl,
      recoveryBoundMs: RECOVERY_BOUND_MS,
      fault: async () => {
        await c.redis.halt('SIGKILL');
        await new Promise((r) => setTimeout(r, 10_000)); // the outage itself is the fault
        await c.redis.start();
      },
    });
    expectNothingLost(result);
  });

  it('ZooKeeper SIGKILLed and restarted five times', async () => {
    zk = await startZooKeeper({ nodes: 1, tickTime: 500 });
    const z = zk;
    cluster = await startCluster({ servers: 2, zkConnect: z.connect, zkSessionTimeoutMs: 4000 });
    const c = cluster;
    const result = await runFaultScenario({
      name: 'zookeeper-restarts',
      routeUrl: c.routeUrl,
      recoveryBoundMs: RECOVERY_BOUND_MS,
      fault: async () => {
        for (let i = 0; i < 5; i++) {
          await z.nodes[0]!.restart();
          await waitUntil('ZooKeeper to serve again', async () => ((await z.nodes[0]!.mode()) === 'standalone' ? true : undefined), 30_000, 100);
          // Both servers registered again and seen by the route: nobody needs a manual restart.
          await c.waitForServers(2);
        }
      },
    });
    expectNothingLost(result);
  });
});
