/**
 * Issue #10: push endpoints on an internal port only, /metrics on a port of its own, pushes always credentialed.
 * A real cluster (redis-server, ZooKeeper, 2 cim-servers with --internal-port and --metrics-port, a cim-route with
 * --metrics-port): messages flow through the internal ports and are counted, the public port answers 404 for the
 * push endpoints, the internal port refuses pushes without the secret, and a server restarted on another internal
 * port is pushed to there once its ZooKeeper data says so.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command, type CimFrame } from '../../services/common/src/codec.ts';
import { freePort } from '../../services/common/src/infra/ports.ts';
import { pushAuthHeader } from '../../services/common/src/push.ts';
import { startCluster, type ServerHandle, type TestCluster } from '../harness/cluster.ts';
import { WebSocket } from 'ws';
import { PUSH_LINK_PATH } from '../../services/common/src/push-link.ts';

/** The HTTP status a /push/link upgrade gets on 127.0.0.1:port (101 = the link opened; it is closed at once). */
function upgradeStatus(port: number, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${PUSH_LINK_PATH}`, { headers });
    ws.on('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('error', (err) => reject(err));
  });
}
import { connectWs, type RawClient } from '../harness/raw-client.ts';
import { routeApi, type LoginBody } from '../harness/route-api.ts';

const SECRET = 'internal-port-secret';
const N = 25;
let cluster: TestCluster;
let api: ReturnType<typeof routeApi>;
const clients: RawClient[] = [];

beforeAll(async () => {
  cluster = await startCluster({ servers: 2, authSecret: SECRET, serverArgs: ['--internal-port', '0', '--metrics-port', '0'], routeArgs: ['--metrics-port', '0'] });
  api = routeApi(cluster.routeUrl);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cluster?.stop();
});

interface User {
  userId: number;
  token: string;
  server: LoginBody;
  client: RawClient;
}

async function onlineUser(name: string): Promise<User> {
  const { userId } = (await api.register(name)).dataBody;
  const login = await api.login(userId, name, 2);
  expect(login.code, JSON.stringify(login)).toBe('9000');
  const server = login.dataBody!;
  const client = await connectWs(`ws://${server.ip}:${server.httpPort}${server.wsPath ?? '/ws'}`);
  clients.push(client);
  client.login(userId, name, { protocol: '2', token: server.token ?? '' });
  expect((await client.next((f) => f.cmd === Command.LOGIN_RESPONSE, 10_000, `LOGIN_RESPONSE of ${name}`)).properties['code']).toBe('9000');
  return { userId, token: server.token ?? '', server, client };
}

const serverOf = (u: User) => cluster.servers.find((s) => s.httpPort === u.server.httpPort && s.tcpPort === u.server.cimServerPort)!;
const received = (u: User, tag: string) => u.client.frames.filter((f: CimFrame) => f.cmd === Command.MESSAGE && (f.reqMsg ?? '').startsWith(tag));
const post = (port: number, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
const push = (to: User, msg: string) => ({ receivers: [to.userId], msg, properties: { sendUserId: '1', sendUserName: 'ops' } });

/**
 * Sends N messages from `from` to `to` through the route (pushed to `to`'s server's internal port) and N in-band
 * (pushed by `from`'s server to `to`'s), then a marker that proves nothing is still in flight; counts exactly N each.
 */
async function exchange(from: User, to: User, tag: string): Promise<void> {
  for (let i = 0; i < N; i++) expect((await api.p2p(from.userId, to.userId, `${tag}-route-${i}`, from.token)).code).toBe('9000');
  for (let i = 0; i < N; i++) from.client.send({ cmd: Command.MESSAGE, reqMsg: `${tag}-band-${i}`, properties: { msgId: `${tag}-${i}`, receiveUserId: String(to.userId) } });
  const acks = await Promise.all(Array.from({ length: N }, (_, i) => from.client.next((f) => f.cmd === Command.MESSAGE_ACK && f.properties['msgId'] === `${tag}-${i}`, 10_000, `ack ${tag}-${i}`)));
  expect(acks.map((a) => a.properties['code'])).toEqual(Array(N).fill('9000'));
  expect((await api.p2p(from.userId, to.userId, `${tag}-marker`, from.token)).code).toBe('9000');
  await to.client.next((f) => f.cmd === Command.MESSAGE && f.reqMsg === `${tag}-marker`, 10_000, `${tag} marker`);
  expect(received(to, `${tag}-route-`).map((f) => f.reqMsg)).toEqual(Array.from({ length: N }, (_, i) => `${tag}-route-${i}`));
  expect(new Set(received(to, `${tag}-band-`).map((f) => f.reqMsg)).size).toBe(N);
  expect(received(to, `${tag}-band-`)).toHaveLength(N);
  expect(received(from, tag)).toHaveLength(0);
}

describe('a cluster with --internal-port and --metrics-port', () => {
  let alice: User;
  let bob: User;

  beforeAll(async () => {
    alice = await onlineUser('alice');
    bob = await onlineUser('bob');
  });

  it('binds three distinct ports per server and spreads the users over both servers', () => {
    for (const s of cluster.servers) {
      expect(s.internalPort).toBeGreaterThan(0);
      expect(s.metricsPort).toBeGreaterThan(0);
      expect(new Set([s.httpPort, s.internalPort, s.metricsPort, s.tcpPort]).size).toBe(4);
    }
    expect(serverOf(alice)).not.toBe(serverOf(bob));
  });

  it('delivers every message, from the route and between servers, exactly once', async () => {
    await exchange(alice, bob, 'a2b');
    await exchange(bob, alice, 'b2a');
  });

  it('answers 404 for the push endpoints (and /sendMsg outside cim mode) on the public port, even with the secret', async () => {
    const auth = { 'x-cim-push-auth': pushAuthHeader(SECRET) };
    for (const s of cluster.servers) {
      const single = await post(s.httpPort, '/push', push(bob, 'public'), auth);
      expect(single.status).toBe(404);
      expect(((await single.json()) as { code: string }).code).toBe('3000');
      expect((await post(s.httpPort, '/push/batch', { pushes: [push(bob, 'public')] }, auth)).status).toBe(404);
      expect((await post(s.httpPort, '/sendMsg', { userId: bob.userId, msg: 'public', properties: {} }, auth)).status).toBe(404);
      // The push link is not on the public port either.
      expect(await upgradeStatus(s.httpPort, auth)).toBe(404);
    }
    expect(received(bob, 'public')).toHaveLength(0);
  });

  it('refuses pushes on the internal port without the secret (403, 9300) and accepts them with it', async () => {
    const port = serverOf(bob).internalPort!;
    const refusals = [
      await post(port, '/push', push(bob, 'no-secret')),
      await post(port, '/push/batch', { pushes: [push(bob, 'no-secret')] }),
      await post(port, '/push', push(bob, 'no-secret'), { 'x-cim-push-auth': pushAuthHeader('wrong-secret') }),
      await post(port, '/sendMsg', { userId: bob.userId, msg: 'no-secret', properties: {} }),
    ];
    for (const r of refusals) {
      expect(r.status).toBe(403);
      expect(((await r.json()) as { code: string }).code).toBe('9300');
    }
    expect(await upgradeStatus(port, {})).toBe(403);
    expect(await upgradeStatus(port, { 'x-cim-push-auth': pushAuthHeader('wrong-secret') })).toBe(403);
    expect(await upgradeStatus(port, { 'x-cim-push-auth': pushAuthHeader(SECRET) })).toBe(101);
    const auth = { 'x-cim-push-auth': pushAuthHeader(SECRET) };
    const ok = await post(port, '/push', push(bob, 'with-secret-single'), auth);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ code: '9000', dataBody: { delivered: 1, offline: [] } });
    const batch = await post(port, '/push/batch', { pushes: [push(bob, 'with-secret-batch-0'), push(bob, 'with-secret-batch-1')] }, auth);
    expect(await batch.json()).toMatchObject({ code: '9000', dataBody: { results: [{ delivered: 1 }, { delivered: 1 }] } });
    await bob.client.next((f) => f.reqMsg === 'with-secret-batch-1', 10_000, 'the last authenticated push');
    expect(received(bob, 'with-secret')).toHaveLength(3);
    expect(received(bob, 'no-secret')).toHaveLength(0);
    // Nothing but pushes there: no probes, no metrics.
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
  });

  it('serves /metrics only on the metrics ports; /healthz and /readyz stay on the main ports', async () => {
    const route = cluster.route;
    expect(route.metricsPort).toBeGreaterThan(0);
    expect((await fetch(`${cluster.routeUrl}/metrics`)).status).toBe(404);
    expect(await (await fetch(`http://127.0.0.1:${route.metricsPort}/metrics`)).text()).toMatch(/^cim_route_live_servers(\{[^}]*\})? 2$/m);
    expect((await fetch(`${cluster.routeUrl}/readyz`)).status).toBe(200);
    for (const s of cluster.servers) {
      expect((await fetch(`http://127.0.0.1:${s.httpPort}/metrics`)).status).toBe(404);
      const metrics = await fetch(`http://127.0.0.1:${s.metricsPort}/metrics`);
      expect(metrics.status).toBe(200);
      // The internal port's pushes (over its push link) are counted in the same registry.
      expect(await metrics.text()).toMatch(/cim_server_push_link_pushes_total\{[^}]*\} [1-9]/);
      expect((await fetch(`http://127.0.0.1:${s.metricsPort}/healthz`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${s.httpPort}/healthz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${s.httpPort}/readyz`)).status).toBe(200);
    }
  });

  it('pushes to a server restarted on another internal port once its ZooKeeper data says so', async () => {
    const old: ServerHandle = serverOf(bob);
    const oldInternal = old.internalPort!;
    // SIGTERM: the server deregisters before it exits, so the route sees it leave.
    await old.kill('SIGTERM');
    cluster.servers.splice(cluster.servers.indexOf(old), 1);
    await cluster.waitForServers(1);
    let internal = await freePort();
    while (internal === oldInternal) internal = await freePort();
    // Same address (tcp and http ports, so the same ZooKeeper node name), another internal port.
    const restarted = await cluster.addServer(['--tcp-port', String(old.tcpPort), '--http-port', String(old.httpPort), '--internal-port', String(internal)]);
    expect(restarted.address).toBe(old.address);
    expect(restarted.internalPort).toBe(internal);
    await cluster.waitForServers(2);
    // Nothing listens on the old internal port any more: a delivery there would fail.
    await expect(post(oldInternal, '/push', push(bob, 'old'))).rejects.toThrow();

    const users = [await onlineUser('carol'), await onlineUser('dave')];
    const there = users.find((u) => serverOf(u) === restarted);
    const other = users.find((u) => serverOf(u) !== restarted);
    expect(there, 'round robin puts one of two new users on the restarted server').toBeDefined();
    expect(other).toBeDefined();
    await exchange(other!, there!, 'restart');
  });
});
