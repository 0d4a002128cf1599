/** With an auth secret, logins need a route-issued token and pushes need the shared secret. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command } from '../../services/common/src/codec.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { connectTcp, connectWs, type RawClient } from '../harness/raw-client.ts';
import { routeApi } from '../harness/route-api.ts';

let cluster: TestCluster;
let api: ReturnType<typeof routeApi>;
const clients: RawClient[] = [];

beforeAll(async () => {
  cluster = await startCluster({ servers: 1, authSecret: 'test-secret' });
  api = routeApi(cluster.routeUrl);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cluster?.stop();
});

describe('authentication', () => {
  it('accepts a WebSocket login with the token from /login and refuses one without', async () => {
    const { userId } = (await api.register('tokened')).dataBody;
    const login = await api.login(userId, 'tokened', 2);
    expect(login.dataBody!.token).toMatch(/^[\w-]+\.[\w-]+$/);
    const server = login.dataBody!;

    const intruder = await connectWs(`ws://${server.ip}:${server.httpPort}/ws`);
    clients.push(intruder);
    intruder.login(userId, 'tokened', { protocol: '2' });
    const refused = await intruder.next((f) => f.cmd === Command.LOGIN_RESPONSE);
    expect(refused.properties).toMatchObject({ code: '9300', reason: 'token missing' });
    // Terminal (docs/delivery.md): a client without a valid token must not come back on its own.
    expect(await intruder.next((f) => f.cmd === Command.GOAWAY)).toMatchObject({ properties: { code: '4101', reconnect: '0' } });
    expect((await intruder.closed).code).toBe(4101);

    const forged = await connectWs(`ws://${server.ip}:${server.httpPort}/ws`);
    clients.push(forged);
    forged.login(userId, 'tokened', { protocol: '2', token: `${server.token!.split('.')[0]}.AAAA` });
    expect((await forged.next((f) => f.cmd === Command.LOGIN_RESPONSE)).properties['code']).toBe('9300');

    const owner = await connectWs(`ws://${server.ip}:${server.httpPort}/ws`);
    clients.push(owner);
    owner.login(userId, 'tokened', { protocol: '2', token: server.token! });
    expect((await owner.next((f) => f.cmd === Command.LOGIN_RESPONSE)).properties['code']).toBe('9000');
  });

  it('refuses a CIM TCP login without a token (the connection is closed)', async () => {
    const { userId } = (await api.register('legacy')).dataBody;
    const tcp = await connectTcp('127.0.0.1', cluster.servers[0]!.tcpPort);
    clients.push(tcp);
    tcp.login(userId, 'legacy');
    await tcp.closed;
    expect(tcp.frames).toEqual([]); // CIM clients never get extension frames
  });

  it('requires the sender token on the route endpoints', async () => {
    const a = (await api.register('sender')).dataBody;
    const b = (await api.register('receiver')).dataBody;
    const tokenA = (await api.login(a.userId, 'sender', 2)).dataBody!.token!;
    const tokenB = (await api.login(b.userId, 'receiver', 2)).dataBody!.token!;
    expect((await api.p2p(a.userId, b.userId, 'hi')).code).toBe('9300');
    expect((await api.p2p(a.userId, b.userId, 'hi', tokenB)).code).toBe('9300');
    expect((await api.group(a.userId, 'hi')).code).toBe('9300');
    expect((await api.offLine(a.userId)).code).toBe('9300');
    expect((await api.p2p(a.userId, b.userId, 'hi', tokenA)).code).toMatch(/^(9000|7000)$/);
    expect((await api.offLine(a.userId, tokenA)).code).toBe('9000');
  });

  it('refuses pushes without the shared secret', async () => {
    const server = cluster.servers[0]!;
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/push`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ broadcast: true, msg: 'spoofed', properties: {} }),
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: '9300' });
  });
});
