/**
 * Nothing lost, nothing shown twice, when a process dies: a cim-server SIGKILLed or SIGTERMed, the route
 * SIGKILLed, while eight SDK clients (WebSocket and TCP) send numbered private messages at a steady rate.
 * Every message acknowledged to its sender must be shown to its receiver exactly once, every send must end
 * acknowledged (the SDK retries with the same id), and every client must be back within the stated bound.
 */
import { afterEach, describe, it } from 'vitest';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { expectNothingLost, runFaultScenario } from '../harness/fault-scenario.ts';

/** A client notices a dead server within its heartbeat (2 s + 2 s) and logs in elsewhere after backoff. */
const RECOVERY_BOUND_MS = 20_000;

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

// Each case is traffic, a fault and a recovery by design; on a loaded 2-core machine it takes a while.
describe('faults of processes', { timeout: 180_000 }, () => {
  it('SIGKILL of a cim-server', async () => {
    cluster = await startCluster({ servers: 2, zkSessionTimeoutMs: 2000 });
    const c = cluster;
    const result = await runFaultScenario({
      name: 'server-sigkill',
      routeUrl: c.routeUrl,
      recoveryBoundMs: RECOVERY_BOUND_MS,
      fault: async () => {
        await c.servers[0]!.kill('SIGKILL');
      },
    });
    expectNothingLost(result);
  });

  it('SIGTERM of a cim-server (drain)', async () => {
    cluster = await startCluster({ servers: 2, zkSessionTimeoutMs: 2000 });
    const c = cluster;
    const result = await runFaultScenario({
      name: 'server-sigterm',
      routeUrl: c.routeUrl,
      recoveryBoundMs: RECOVERY_BOUND_MS,
      fault: async () => {
        await c.servers[1]!.kill('SIGTERM');
      },
    });
    expectNothingLost(result);
  });

  it('SIGKILL of the route, restarted as its Deployment would', async () => {
    cluster = await startCluster({ servers: 2, zkSessionTimeoutMs: 2000 });
    const c = cluster;
    const result = await runFaultScenario({
      name: 'route-sigkill',
      routeUrl: c.routeUrl,
      recoveryBoundMs: RECOVERY_BOUND_MS,
      fault: async () => {
        await c.route.kill('SIGKILL');
        // While the route is down, a server dies too: its clients must wait for the route and come back.
        await c.servers[0]!.kill('SIGKILL');
        await new Promise((r) => setTimeout(r, 1_000)); // the route's downtime, as a restart takes
        await c.restartRoute();
      },
    });
    expectNothingLost(result);
  });
});
