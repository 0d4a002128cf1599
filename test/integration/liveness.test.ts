/**
 * Liveness against real processes: heartbeat eviction, a server killed with SIGKILL, a graceful
 * SIGTERM shutdown. Each test gets its own cluster so that killing servers cannot leak.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Command } from '../../services/common/src/codec.ts';
import { waitUntil } from '../../services/common/src/infra/ports.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { connectWs, type RawClient } from '../harness/raw-client.ts';
import { routeApi } from '../harness/route-api.ts';

let cluster: TestCluster | undefined;
const clients: RawClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await cluster?.stop();
  cluster = undefined;
});

async function loginOverWs(c: TestCluster, name: string) {
  const api = routeApi(c.routeUrl);
  const { userId } = (await api.register(name)).dataBody;
  const login = await api.login(userId, name, 2);
  expect(login.code).toBe('9000');
  const server = login.dataBody!;
  const client = await connectWs(`ws://${server.ip}:${server.httpPort}${server.wsPath}`);
  clients.push(client);
  const lastSentAt = Date.now(); // the client sends nothing after its LOGIN_REQUEST
  client.login(userId, name);
  expect((await client.next((f) => f.cmd === Command.LOGIN_RESPONSE)).properties['code']).toBe('9000');
  return { userId, client, lastSentAt, address: `${server.ip}:${server.cimServerPort}:${server.httpPort}` };
}

const onlineIds = async (c: TestCluster) => ((await routeApi(c.routeUrl).onlineUsers()).dataBody ?? []).map((u) => u.userId);

describe('liveness', () => {
  it('evicts a client that stops pinging within timeout + 1 s and drops it from /onlineUser', async () => {
    const timeoutSec = 1.5;
    cluster = await startCluster({ servers: 1, heartbeatTimeoutSec: timeoutSec, loginTimeoutSec: 1 });
    // A connection that never logs in is closed after the login timeout.
    const openedAt = Date.now(); // no later than the server's accept
    const silent = await connectWs(`ws://127.0.0.1:${cluster.servers[0]!.httpPort}/ws`);
    clients.push(silent);
    const silentClosed = silent.closed.then((c) => ({ ...c, after: Date.now() - openedAt }));
    const quiet = await loginOverWs(cluster, 'quiet');
    const quietClosed = quiet.client.closed.then((c) => ({ ...c, silentFor: Date.now() - quiet.lastSentAt }));
    const chatty = await loginOverWs(cluster, 'chatty');
    const pinger = setInterval(() => chatty.client.ping(chatty.userId), 300);
    try {
      const { code, silentFor } = await quietClosed;
      expect(code).toBe(4000); // heartbeat-timeout
      expect(silentFor).toBeGreaterThanOrEqual(timeoutSec * 1000 - 50);
      expect(silentFor).toBeLessThanOrEqual(timeoutSec * 1000 + 1000);
      await expect.poll(() => onlineIds(cluster!), { timeout: 5000 }).not.toContain(quiet.userId);
      const { code: silentCode, after } = await silentClosed;
      expect(silentCode).toBe(4001); // login-timeout
      expect(after).toBeGreaterThanOrEqual(1000);
      expect(after).toBeLessThanOrEqual(1000 + 1000);
      expect(await onlineIds(cluster)).toContain(chatty.userId);
      expect(chatty.client.isOpen()).toBe(true);
    } finally {
      clearInterval(pinger);
    }
  });

  it('stops choosing a SIGKILLed server once its ZooKeeper session ends; new logins go to the survivor', async () => {
    cluster = await startCluster({ servers: 2, zkSessionTimeoutMs: 2000 });
    const api = routeApi(cluster.routeUrl);
    const [victim, survivor] = cluster.servers as [typeof cluster.servers[0], typeof cluster.servers[0]];
    await victim.kill('SIGKILL');
    await cluster.waitForServers(1);
    for (const name of ['after-1', 'after-2', 'after-3', 'after-4']) {
      const { userId } = (await api.register(name)).dataBody;
      const login = await api.login(userId, name);
      expect(login.code).toBe('9000');
      expect(`${login.dataBody!.ip}:${login.dataBody!.cimServerPort}:${login.dataBody!.httpPort}`).toBe(survivor.address);
    }
  });

  it('lets a user of a crashed server log in again at once (stale presence is taken over)', async () => {
    cluster = await startCluster({ servers: 2, zkSessionTimeoutMs: 2000 });
    const api = routeApi(cluster.routeUrl);
    const user = await loginOverWs(cluster, 'survivor-user');
    const holder = cluster.servers.find((s) => s.address === user.address)!;
    await holder.kill('SIGKILL');
    await user.client.closed;
    await cluster.waitForServers(1);
    const again = await api.login(user.userId, 'survivor-user');
    expect(again.code).toBe('9000');
    expect(`${again.dataBody!.ip}:${again.dataBody!.cimServerPort}:${again.dataBody!.httpPort}`).not.toBe(user.address);
  });

  it('registers again after its ZooKeeper session expired', async () => {
    cluster = await startCluster({ servers: 2, zkSessionTimeoutMs: 2000 });
    const frozen = cluster.servers[0]!;
    // A stopped process cannot answer ZooKeeper's pings: its session expires and its node goes away.
    process.kill(frozen.process.pid, 'SIGSTOP');
    try {
      await cluster.waitForServers(1);
    } finally {
      process.kill(frozen.process.pid, 'SIGCONT');
    }
    // Resumed, it learns the session expired, opens a new one and registers again.
    await cluster.waitForServers(2);
    const api = routeApi(cluster.routeUrl);
    const logins = [];
    for (const name of ['back-1', 'back-2']) {
      const { userId } = (await api.register(name)).dataBody;
      const login = await api.login(userId, name);
      logins.push(`${login.dataBody!.ip}:${login.dataBody!.cimServerPort}:${login.dataBody!.httpPort}`);
    }
    expect(logins).toContain(frozen.address);
  });

  it('on SIGTERM deregisters first, sends GOAWAY, clears presence and exits', async () => {
    cluster = await startCluster({ servers: 2 });
    const user = await loginOverWs(cluster, 'leaving');
    const holder = cluster.servers.find((s) => s.address === user.address)!;
    await holder.process.stop('SIGTERM', 15_000);
    expect(await holder.process.exited).toBe(0);
    const goaway = await user.client.next((f) => f.cmd === Command.GOAWAY);
    expect(goaway.reqMsg).toMatch(/shutting down/);
    expect(goaway.properties).toMatchObject({ code: '1001', reconnect: '1' });
    expect((await user.client.closed).code).toBe(1001);
    await cluster.waitForServers(1);
    expect(await onlineIds(cluster)).not.toContain(user.userId);
    // The client logs in again through the route and lands on the other server.
    const again = await routeApi(cluster.routeUrl).login(user.userId, 'leaving', 2);
    expect(again.code).toBe('9000');
    expect(`${again.dataBody!.ip}:${again.dataBody!.cimServerPort}:${again.dataBody!.httpPort}`).not.toBe(user.address);
  });
});

describe('ZooKeeper ensemble', () => {
  it('keeps servers registered and logins working when the leader is killed', async () => {
    const { startZooKeeper } = await import('../../services/common/src/infra/zookeeper.ts');
    const zk = await startZooKeeper({ nodes: 3, tickTime: 500 });
    try {
      cluster = await startCluster({ servers: 2, zkConnect: zk.connect, zkSessionTimeoutMs: 4000 });
      const api = routeApi(cluster.routeUrl);
      const leader = await zk.leader();
      expect(leader).toBeDefined();
      await leader!.kill('SIGKILL');
      await waitUntil('a new ZooKeeper leader', async () => ((await zk.leader()) ? true : undefined), 30_000, 100);
      // Sessions move to the surviving nodes; the ephemeral registrations survive.
      for (const name of ['zk-1', 'zk-2', 'zk-3']) {
        const { userId } = (await api.register(name)).dataBody;
        await expect.poll(async () => (await api.login(userId, name)).code, { timeout: 15_000, interval: 200 }).toBe('9000');
      }
      await cluster.waitForServers(2);
      await expect.poll(async () => (await fetch(`${cluster!.routeUrl}/readyz`)).status, { timeout: 15_000 }).toBe(200);
      for (const s of cluster.servers) expect((await fetch(`http://127.0.0.1:${s.httpPort}/readyz`)).status).toBe(200);
    } finally {
      await cluster?.stop();
      cluster = undefined;
      await zk.stop();
    }
  });
});
