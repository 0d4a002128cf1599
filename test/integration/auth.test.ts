/** The two auth modes end to end: password (tokens, authenticated pushes) and cim (CIM's open behaviour). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command } from '../../services/common/src/codec.ts';
import { createClient, type ChatMessage } from '../../services/client/src/index.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { connectTcp, connectWs, type RawClient } from '../harness/raw-client.ts';
import { routeApi } from '../harness/route-api.ts';

let password: TestCluster;
let cim: TestCluster;
const clients: RawClient[] = [];

beforeAll(async () => {
  [password, cim] = await Promise.all([
    startCluster({ servers: 1, auth: 'password', authSecret: 'test-secret' }),
    startCluster({ servers: 1, auth: 'cim', authSecret: 'cim-secret' }),
  ]);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([password?.stop(), cim?.stop()]);
});

describe('password mode', () => {
  it('accepts a WebSocket login with the JWT from /login', async () => {
    const api = routeApi(password.routeUrl);
    const { userId } = (await api.register('tokened', 'tokened-password')).dataBody;
    const login = (await api.login(userId, 'tokened', 2, 'tokened-password')).dataBody!;
    expect(login.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(login.expiresIn).toBe(900);
    const owner = await connectWs(`ws://${login.ip}:${login.httpPort}/ws`);
    clients.push(owner);
    owner.login(userId, 'tokened', { protocol: '2', token: login.token! });
    expect((await owner.next((f) => f.cmd === Command.LOGIN_RESPONSE)).properties['code']).toBe('9000');
  });

  it('refuses a CIM TCP login (no token possible) and closes the connection', async () => {
    const { userId } = (await routeApi(password.routeUrl).register('legacy', 'legacy-password')).dataBody;
    const tcp = await connectTcp('127.0.0.1', password.servers[0]!.tcpPort);
    clients.push(tcp);
    tcp.login(userId, 'legacy');
    await tcp.closed;
    expect(tcp.frames).toEqual([]); // CIM clients never get extension frames
  });

  it('SDK clients with passwords chat, and a wrong password fails the connect', async () => {
    const inbox: ChatMessage[] = [];
    const bob = await createClient({ routeUrl: password.routeUrl, userName: 'sdk-bob', password: 'bob-password', onMessage: (m) => inbox.push(m) });
    const alice = await createClient({ routeUrl: password.routeUrl, userName: 'sdk-alice', password: 'alice-password' });
    try {
      await alice.sendPrivate(bob.userId!, 'hello with a password');
      await expect.poll(() => inbox.map((m) => m.text)).toEqual(['hello with a password']);
      const wrong = await createClient({ routeUrl: password.routeUrl, userName: 'sdk-bob', password: 'not-bobs-password' }).catch((e: unknown) => e);
      expect(wrong).toMatchObject({ serverCode: '9304' });
    } finally {
      await Promise.all([alice.close(), bob.close()]);
    }
  });
});

describe('cim mode', () => {
  it('lets CIM clients in without password or token, keeps /sendMsg open and /push behind the secret', async () => {
    const api = routeApi(cim.routeUrl);
    const reg = await api.post<{ userId: number }>('/registerAccount', { userName: 'cim-user' });
    expect(reg.code).toBe('9000');
    const login = await api.post<{ ip: string; cimServerPort: number } | null>('/login', { userId: reg.dataBody.userId, userName: 'cim-user' });
    expect(login.code).toBe('9000');
    const server = cim.servers[0]!;
    // No token in cim mode; protocol 2 only so the test can await the LOGIN_RESPONSE.
    const tcp = await connectWs(`ws://127.0.0.1:${server.httpPort}/ws`);
    clients.push(tcp);
    tcp.login(reg.dataBody.userId, 'cim-user', { protocol: '2' });
    expect((await tcp.next((f) => f.cmd === Command.LOGIN_RESPONSE)).properties['code']).toBe('9000');
    // CIM's route calls /sendMsg without credentials.
    const sent = await fetch(`http://127.0.0.1:${server.httpPort}/sendMsg`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: reg.dataBody.userId, msg: 'from CIM route', properties: {} }) });
    expect(sent.status).toBe(200);
    await tcp.next((f) => f.reqMsg === 'from CIM route');
    const push = await fetch(`http://127.0.0.1:${server.httpPort}/push`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ broadcast: true, msg: 'spoofed', properties: {} }) });
    expect(push.status).toBe(403);
    expect(tcp.frames.filter((f) => f.reqMsg === 'spoofed')).toHaveLength(0);
  });
});
