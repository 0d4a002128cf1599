/**
 * A real cim-server and cim-route on a ZooKeeper this file owns: ZooKeeper SIGKILLed and restarted
 * (data dir kept, so sessions survive a quick restart and expire after a slow one) again and again;
 * and a server SIGTERMed while ZooKeeper is down.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { waitUntil } from '../../services/common/src/infra/ports.ts';
import { fourLetterWord } from '../../services/common/src/infra/ports.ts';
import { startZooKeeper, type ZooKeeperInstance } from '../../services/common/src/infra/zookeeper.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { routeApi } from '../harness/route-api.ts';

let zk: ZooKeeperInstance | undefined;
let cluster: TestCluster | undefined;

afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
  await zk?.stop();
  zk = undefined;
});

const SESSION_TIMEOUT_MS = 2000;
/**
 * From "ZooKeeper serves again" to "both components ready and a login lands": the hung or refused
 * client's deadline (max(2 s, session/2) = 2 s) + the longest backoff between clients (5 s) + the
 * session sync and one login, with slack for a loaded 2-core machine.
 */
const RECOVERY_BOUND_MS = 2000 + 5000 + 5000;
const SHUTDOWN_TIMEOUT_SEC = 3; // what the cluster harness passes to cim-server

const readyz = async (base: string) => (await fetch(`${base}/readyz`).catch(() => undefined))?.status ?? 0;

const sessionsLost = async (base: string) => Number(/cim_zookeeper_events_total\{[^}]*kind="session_lost"[^}]*\} (\d+)/.exec(await (await fetch(`${base}/metrics`)).text())?.[1] ?? 0);

/** What a failed recovery needs explained: ZooKeeper's sessions and nodes, and both components' view and last log lines. */
async function diagnosis(instance: ZooKeeperInstance, c: TestCluster, serverUrl: string): Promise<string> {
  const port = Number(instance.connect.split(':')[1]);
  const zkMetrics = async (base: string) =>
    (await (await fetch(`${base}/metrics`)).text())
      .split('\n')
      .filter((l) => /^cim_(zookeeper|route_live_servers|route_logins)/.test(l))
      .join('\n');
  return [
    `zookeeper exit=${instance.nodes[0]!.process.exitStatus() ?? 'running'} dump:\n${await fourLetterWord(port, 'dump')}`,
    `zookeeper output:\n${instance.nodes[0]!.process.output(30)}`,
    `route metrics:\n${await zkMetrics(c.routeUrl)}`,
    `route output:\n${c.route.process.output(40)}`,
    `server metrics:\n${await zkMetrics(serverUrl)}`,
    `server output:\n${c.servers[0]!.process.output(40)}`,
  ].join('\n---\n');
}

async function zkServing(instance: ZooKeeperInstance): Promise<void> {
  await waitUntil('ZooKeeper to serve again', async () => ((await instance.nodes[0]!.mode()) === 'standalone' ? true : undefined), 60_000, 100);
}

describe('ZooKeeper restarts under running components', () => {
  it('after each of 5 SIGKILL + restarts both components are ready again and the route logs users in to the server', async () => {
    zk = await startZooKeeper({ nodes: 1, tickTime: 500 });
    cluster = await startCluster({ servers: 1, zkConnect: zk.connect, zkSessionTimeoutMs: SESSION_TIMEOUT_MS });
    const server = cluster.servers[0]!;
    const serverUrl = `http://127.0.0.1:${server.httpPort}`;
    const api = routeApi(cluster.routeUrl);
    let logins = 0;
    const recoveries: number[] = [];
    for (let round = 1; round <= 5; round++) {
      if (round % 2 === 0) {
        // Stay down past the session timeout: both components give their sessions up, and the
        // restarted ZooKeeper (same data dir) expires the old ones it reloads.
        const before = [await sessionsLost(serverUrl), await sessionsLost(cluster.routeUrl)];
        await zk.nodes[0]!.kill('SIGKILL');
        await expect
          .poll(async () => [(await sessionsLost(serverUrl)) > before[0]!, (await sessionsLost(cluster!.routeUrl)) > before[1]!], { timeout: 15_000 })
          .toEqual([true, true]);
      }
      await zk.nodes[0]!.restart(); // SIGKILL (if still running), then the same config and data dir
      await zkServing(zk);
      const since = Date.now();
      await expect
        .poll(async () => [await readyz(serverUrl), await readyz(cluster!.routeUrl)], { timeout: RECOVERY_BOUND_MS, interval: 100 })
        .toEqual([200, 200]);
      const name = `restart-${round}`;
      const { userId } = (await api.register(name)).dataBody;
      // The route may still be re-reading the server list: the login must succeed within the bound.
      await expect
        .poll(async () => {
          const login = await api.login(userId, name);
          return login.code === '9000' ? `${login.dataBody!.ip}:${login.dataBody!.cimServerPort}:${login.dataBody!.httpPort}` : login.code;
        }, { timeout: Math.max(1000, RECOVERY_BOUND_MS - (Date.now() - since)), interval: 100 })
        .toBe(server.address)
        .catch(async (err: unknown) => {
          throw new Error(`round ${round}: ${err instanceof Error ? err.message : String(err)}\n${await diagnosis(zk!, cluster!, serverUrl)}`);
        });
      logins++;
      recoveries.push(Date.now() - since);
      await api.offLine(userId);
    }
    console.log(`recovery after each ZooKeeper restart (ms): ${recoveries.join(', ')}`);
    expect(logins).toBe(5);
    for (const ms of recoveries) expect(ms).toBeLessThan(RECOVERY_BOUND_MS);
    // both processes are the ones started at the beginning: recovered, not restarted
    expect(server.process.child.exitCode).toBeNull();
    expect(cluster.route.process.child.exitCode).toBeNull();
  }, 240_000);

  it('a server SIGTERMed while ZooKeeper is down exits within --shutdown-timeout + 1 s', async () => {
    zk = await startZooKeeper({ nodes: 1, tickTime: 500 });
    cluster = await startCluster({ servers: 1, zkConnect: zk.connect, zkSessionTimeoutMs: SESSION_TIMEOUT_MS });
    const server = cluster.servers[0]!;
    await zk.nodes[0]!.kill('SIGKILL');
    // The server noticed: it reports ZooKeeper's loss through its metrics.
    await expect
      .poll(async () => /cim_zookeeper_events_total\{[^}]*kind="disconnected"[^}]*\} [1-9]/.test(await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text()))
      .toBe(true);
    const t0 = Date.now();
    server.process.child.kill('SIGTERM');
    const code = await server.process.exited;
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeLessThan(SHUTDOWN_TIMEOUT_SEC * 1000 + 1000);
    expect(code).toBe(0);
  }, 120_000);
});
