/**
 * The attacker suite: a real cluster (redis-server, 2 cim-servers, cim-route) in password mode. Every
 * attack is refused with its documented code (docs/codes.md), and the victim's inbox is intact: N
 * messages stored before the attacks, N delivered to the victim after them, 0 to the attacker.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken, randomId } from '../../services/common/src/auth.ts';
import { Command, type CimFrame } from '../../services/common/src/codec.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { connectWs, type RawClient } from '../harness/raw-client.ts';
import { routeApi, type LoginBody } from '../harness/route-api.ts';

const SECRET = 'attack-suite-secret';
const N = 5;
let cluster: TestCluster;
let api: ReturnType<typeof routeApi>;
const clients: RawClient[] = [];
const attackerFrames: CimFrame[] = [];

interface User {
  userId: number;
  userName: string;
  password: string;
}
let victim: User;
let attacker: User;
let sender: User;
let senderToken: string;
let attackerToken: string;

async function register(userName: string): Promise<User> {
  const password = `${userName}-password`;
  const res = await api.register(userName, password);
  expect(res.code).toBe('9000');
  return { userId: res.dataBody.userId, userName, password };
}

async function login(u: User): Promise<LoginBody> {
  const res = await api.login(u.userId, u.userName, 2, u.password);
  expect(res.code, JSON.stringify(res)).toBe('9000');
  return res.dataBody!;
}

/** A raw WebSocket LOGIN to `server` as `userId`; the attacker's clients record every frame they get. */
async function rawLogin(server: { ip: string; httpPort: number }, userId: number, userName: string, token?: string, mine = true): Promise<RawClient> {
  const c = await connectWs(`ws://${server.ip}:${server.httpPort}/ws`);
  clients.push(c);
  c.login(userId, userName, { protocol: '2', ...(token !== undefined ? { token } : {}) });
  if (mine) void c.closed.then(() => attackerFrames.push(...c.frames));
  return c;
}

const messages = (c: RawClient) => c.frames.filter((f) => f.cmd === Command.MESSAGE);
const anyServer = () => ({ ip: '127.0.0.1', httpPort: cluster.servers[0]!.httpPort });

beforeAll(async () => {
  cluster = await startCluster({
    servers: 2,
    auth: 'password',
    authSecret: SECRET,
    // A short window: the attacks lock the victim's account too (all requests come from 127.0.0.1), and the
    // last test waits for the lock to lift before the victim logs in.
    routeArgs: ['--login-max-failures', '3', '--login-failure-window', '3'],
    serverArgs: ['--revocation-check', '0.2'],
  });
  api = routeApi(cluster.routeUrl);
  victim = await register('victim');
  attacker = await register('mallory');
  sender = await register('sender');
  senderToken = (await login(sender)).token!;
  attackerToken = (await login(attacker)).token!;
  // N messages wait in the offline victim's inbox before any attack.
  for (let i = 0; i < N; i++) expect((await api.p2p(sender.userId, victim.userId, `secret-${i}`, senderToken)).code).toBe('7000');
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cluster?.stop();
});

describe('attacks on password mode', () => {
  it('login as another user: without a password, with a wrong one, by re-registering the name: refused', async () => {
    expect((await api.post('/login', { userId: victim.userId, userName: 'victim', protocol: 2 })).code).toBe('9301');
    expect((await api.login(victim.userId, 'victim', 2, 'guessed-password')).code).toBe('9301');
    expect((await api.login(victim.userId, 'victim', undefined, 'guessed-password')).code).toBe('9301'); // CIM's protocol 1 too
    // The third failure above reached the limit: from now on even the right password is refused until the
    // window ends, so the answer never tells a guesser whether a guess was right.
    expect((await api.register('victim', 'attackers-password')).code).toBe('9302');
    const other = await register('victim-2');
    expect((await api.register('victim-2', 'attackers-password')).code).toBe('9304');
    expect((await api.login(other.userId, other.userName, 2, other.password)).code).toBe('9000');
    // A token of the attacker does not log in as the victim either.
    expect((await api.post('/login', { userId: victim.userId, userName: 'victim', protocol: 2, token: attackerToken })).code).toBe('9300');
  });

  it('slows down guessing: after 3 failures the account is refused (9302) even with the right password', async () => {
    const target = await register('guess-target');
    const codes: string[] = [];
    for (let i = 0; i < 5; i++) codes.push((await api.login(target.userId, target.userName, 2, `guess-${i}-xxxxx`)).code);
    expect(codes).toEqual(['9301', '9301', '9301', '9302', '9302']);
    expect((await api.login(target.userId, target.userName, 2, target.password)).code).toBe('9302');
    // Other accounts are not affected.
    const bystander = await register('bystander');
    expect((await api.login(bystander.userId, bystander.userName, 2, bystander.password)).code).toBe('9000');
  });

  it('an expired token is refused by the route (9303) and by the server (9303, close 4003)', async () => {
    const { token } = await issueToken(SECRET, victim.userId, randomId(), Date.now() - 3_600_000, 60_000);
    expect((await api.p2p(victim.userId, sender.userId, 'x', token)).code).toBe('9303');
    expect((await api.fetchOffline(victim.userId, token)).code).toBe('9303');
    const c = await rawLogin(anyServer(), victim.userId, 'victim', token);
    expect((await c.next((f) => f.cmd === Command.LOGIN_RESPONSE)).properties).toMatchObject({ code: '9303' });
    expect((await c.closed).code).toBe(4003);
  });

  it('another user\'s token: refused on every route call for the victim and at the server (9300, close 4101)', async () => {
    expect((await api.p2p(victim.userId, sender.userId, 'spoofed', attackerToken)).code).toBe('9300');
    expect((await api.group(victim.userId, 'spoofed', attackerToken)).code).toBe('9300');
    expect((await api.fetchOffline(victim.userId, attackerToken)).code).toBe('9300');
    expect((await api.offLine(victim.userId, attackerToken)).code).toBe('9300');
    const c = await rawLogin(anyServer(), victim.userId, 'victim', attackerToken);
    expect((await c.next((f) => f.cmd === Command.LOGIN_RESPONSE)).properties).toMatchObject({ code: '9300', reason: 'token wrong-user' });
    expect((await c.closed).code).toBe(4101);
  });

  it('LOGIN frames without a token or with a forged one are refused (9300, close 4101)', async () => {
    const none = await rawLogin(anyServer(), victim.userId, 'victim');
    expect((await none.next((f) => f.cmd === Command.LOGIN_RESPONSE)).properties).toMatchObject({ code: '9300', reason: 'token missing' });
    expect((await none.closed).code).toBe(4101);
    const forgedToken = (await issueToken('not-the-secret', victim.userId, randomId(), Date.now())).token;
    const forged = await rawLogin(anyServer(), victim.userId, 'victim', forgedToken);
    expect((await forged.next((f) => f.cmd === Command.LOGIN_RESPONSE)).properties).toMatchObject({ code: '9300', reason: 'token bad-signature' });
    expect((await forged.closed).code).toBe(4101);
  });

  it('a token after logout is dead: route calls, /refresh and LOGIN are refused; a live session is closed (4101)', async () => {
    const mallory = await register('mallory-2'); // an attacker's own account and session
    const grant = await login(mallory);
    const live = await rawLogin(grant, mallory.userId, mallory.userName, grant.token);
    expect((await live.next((f) => f.cmd === Command.LOGIN_RESPONSE)).properties['code']).toBe('9000');
    expect((await api.offLine(mallory.userId, grant.token)).code).toBe('9000');
    expect((await live.next((f) => f.cmd === Command.GOAWAY)).properties).toMatchObject({ code: '4101', reconnect: '0' });
    expect((await live.closed).code).toBe(4101);
    expect((await api.p2p(mallory.userId, sender.userId, 'after logout', grant.token)).code).toBe('9300');
    expect((await api.post('/refresh', { userId: mallory.userId, refreshToken: grant.refreshToken })).code).toBe('9300');
    const again = await rawLogin(grant, mallory.userId, mallory.userName, grant.token);
    expect((await again.next((f) => f.cmd === Command.LOGIN_RESPONSE)).properties).toMatchObject({ code: '9300', reason: 'token revoked' });
  });

  it('a password change revokes every token and closes live sessions (4101)', async () => {
    const u = await register('changer');
    const grant = await login(u);
    const live = await rawLogin(grant, u.userId, u.userName, grant.token, false);
    expect((await live.next((f) => f.cmd === Command.LOGIN_RESPONSE)).properties['code']).toBe('9000');
    expect((await api.post('/changePassword', { userId: u.userId, password: u.password, newPassword: 'a-new-password' })).code).toBe('9000');
    expect((await live.closed).code).toBe(4101);
    expect((await api.post('/refresh', { userId: u.userId, refreshToken: grant.refreshToken })).code).toBe('9300');
    expect((await api.login(u.userId, u.userName, 2, u.password)).code).toBe('9301');
    await api.offLine(u.userId, (await api.login(u.userId, u.userName, 2, 'a-new-password')).dataBody!.token);
  });

  it('pushes to a server without the internal credential are refused (403, 9300): /sendMsg, /push, /push/batch', async () => {
    const server = cluster.servers[0]!;
    const push = { receivers: [victim.userId], msg: 'spoofed', properties: { sendUserId: String(sender.userId), sendUserName: 'sender' } };
    const bodies: [string, unknown][] = [
      ['/sendMsg', { userId: victim.userId, msg: 'spoofed', properties: {} }],
      ['/push', { broadcast: true, msg: 'spoofed', properties: {} }],
      ['/push/batch', { pushes: [push] }],
    ];
    for (const [path, body] of bodies) {
      for (const headers of [{}, { 'x-cim-push-auth': 'guess' }]) {
        const res = await fetch(`http://127.0.0.1:${server.httpPort}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
        expect(res.status, path).toBe(403);
        expect(await res.json()).toMatchObject({ code: '9300' });
      }
    }
  });

  it('the victim\'s inbox is intact: N messages to the victim after every attack, none to the attacker', async () => {
    // The lock from the first test lifts when its window ends.
    let answer: Awaited<ReturnType<typeof api.login>> | undefined;
    await expect.poll(async () => (answer = await api.login(victim.userId, 'victim', 2, victim.password)).code, { timeout: 10_000, interval: 250 }).toBe('9000');
    const grant = answer!.dataBody!;
    const c = await rawLogin(grant, victim.userId, 'victim', grant.token, false);
    expect((await c.next((f) => f.cmd === Command.LOGIN_RESPONSE)).properties['code']).toBe('9000');
    await c.next(() => messages(c).length >= N, 10_000, `${N} messages`);
    expect(messages(c).map((f) => f.reqMsg).sort()).toEqual(Array.from({ length: N }, (_, i) => `secret-${i}`));
    await Promise.all(clients.filter((x) => x !== c).map((x) => x.close()));
    const all = [...attackerFrames, ...clients.filter((x) => x !== c).flatMap((x) => x.frames)];
    expect(all.filter((f) => f.cmd === Command.MESSAGE)).toHaveLength(0);
  });
});
