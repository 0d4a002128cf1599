/**
 * External identity on a real cluster (redis-server, 2 cim-servers, cim-route as processes): a local JWKS
 * server (keys from jose) and a local password hook, both node:http on 127.0.0.1. Counted: a valid id
 * token logs in and chats (N sent = N delivered); every forged or misdirected id token is refused with
 * 9300; the hook's 401 is 9301, its 5xx, reset and slowness are the retryable 9305 while the route stays
 * ready and other users keep logging in and chatting.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ChatMessage, type CimClient } from '../../services/client/src/index.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { routeApi } from '../harness/route-api.ts';

const ISSUER = 'https://idp.test.invalid';
const AUDIENCE = 'cim-test';
const N = 5;
let cluster: TestCluster;
let api: ReturnType<typeof routeApi>;
let jwks: Server;
let hook: Server;
const clients: CimClient[] = [];
let rsa: { privateKey: CryptoKey; publicKey: CryptoKey };
let ed: { privateKey: CryptoKey; publicKey: CryptoKey };
let jwksFetches = 0;

/** The hook's behaviour, switched by the tests; every call is counted. */
type HookMode = 'normal' | '503' | 'reset' | 'slow';
let hookMode: HookMode = 'normal';
const hookCalls: { userName: string; mode: HookMode }[] = [];
const HOOK_USERS: Record<string, string> = { hank: 'hank-password', helga: 'helga-password' };
const slowAnswers = new Set<ServerResponse>();

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function readJson(req: IncomingMessage): Promise<{ userName?: string; password?: string }> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as { userName?: string; password?: string };
}

const idToken = (sub: string, o: { key?: CryptoKey; alg?: string; kid?: string; iss?: string; aud?: string; exp?: number } = {}) =>
  new SignJWT({ sub })
    .setProtectedHeader({ alg: o.alg ?? 'RS256', kid: o.kid ?? 'rsa-1' })
    .setIssuer(o.iss ?? ISSUER)
    .setAudience(o.aud ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(o.exp ?? Math.floor(Date.now() / 1000) + 600)
    .sign(o.key ?? rsa.privateKey);

beforeAll(async () => {
  rsa = await generateKeyPair('RS256');
  ed = await generateKeyPair('EdDSA');
  const keys = [
    { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
    { ...(await exportJWK(ed.publicKey)), kid: 'ed-1', alg: 'EdDSA', use: 'sig' },
  ];
  jwks = createServer((_req, res) => {
    jwksFetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  hook = createServer((req, res) => {
    void readJson(req).then((body) => {
      hookCalls.push({ userName: String(body.userName), mode: hookMode });
      if (hookMode === 'reset') return req.socket.destroy();
      if (hookMode === '503') return void res.writeHead(503).end('down for maintenance');
      if (hookMode === 'slow') return void slowAnswers.add(res); // answered only at teardown: far beyond --auth-hook-timeout
      const ok = body.userName !== undefined && HOOK_USERS[body.userName] === body.password;
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' }).end(ok ? JSON.stringify({ userName: body.userName }) : '{}');
    });
  });
  const [jwksUrl, hookUrl] = await Promise.all([listen(jwks), listen(hook)]);
  cluster = await startCluster({
    servers: 2,
    auth: 'password',
    authSecret: 'auth-external-secret',
    routeArgs: ['--auth-jwks-url', `${jwksUrl}/jwks.json`, '--auth-issuer', ISSUER, '--auth-audience', AUDIENCE, '--auth-hook-url', `${hookUrl}/check`, '--auth-hook-timeout', '400'],
  });
  api = routeApi(cluster.routeUrl);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cluster?.stop();
  for (const res of slowAnswers) res.writeHead(200).end('{}');
  for (const s of [jwks, hook]) {
    s?.closeAllConnections();
    await new Promise((r) => (s ? s.close(r) : r(undefined)));
  }
});

async function connect(userName: string, proof: { idToken: () => Promise<string> } | { password: string }): Promise<{ client: CimClient; inbox: ChatMessage[] }> {
  const inbox: ChatMessage[] = [];
  const client = await createClient({ routeUrl: cluster.routeUrl, userName, onMessage: (m) => inbox.push(m), ...proof });
  clients.push(client);
  return { client, inbox };
}

const readyz = async () => (await fetch(`${cluster.routeUrl}/readyz`)).status;

describe('OIDC id tokens', () => {
  it('a valid id token registers, logs in and chats through the SDK; N sent = N delivered both ways', async () => {
    const olga = await connect('olga', { idToken: () => idToken('olga') });
    const hank = await connect('hank', { password: HOOK_USERS['hank']! });
    for (let i = 0; i < N; i++) await olga.client.sendPrivate(hank.client.userId!, `to-hank-${i}`);
    for (let i = 0; i < N; i++) await hank.client.sendPrivate(olga.client.userId!, `to-olga-${i}`);
    await expect.poll(() => hank.inbox.length).toBe(N);
    await expect.poll(() => olga.inbox.length).toBe(N);
    expect(hank.inbox.map((m) => `${m.from.userName}:${m.text}`)).toEqual(Array.from({ length: N }, (_, i) => `olga:to-hank-${i}`));
    expect(olga.inbox.map((m) => m.text)).toEqual(Array.from({ length: N }, (_, i) => `to-olga-${i}`));
    await Promise.all([olga.client.close(), hank.client.close()]); // logged out: the next tests log olga in again
  });

  it('/login with only an id token provisions the account and answers who it is, with our own tokens (EdDSA too)', async () => {
    const res = await api.post<Record<string, unknown>>('/login', { idToken: await idToken('edna', { key: ed.privateKey, alg: 'EdDSA', kid: 'ed-1' }), protocol: 2 });
    expect(res.code, JSON.stringify(res)).toBe('9000');
    expect(res.dataBody).toMatchObject({ userName: 'edna', userId: expect.any(Number), token: expect.any(String), refreshToken: expect.any(String) });
    // The account has no password: a password login of it is refused like any wrong password.
    expect((await api.login(res.dataBody['userId'] as number, 'edna', 2, 'any-password-at-all')).code).toBe('9301');
    await api.offLine(res.dataBody['userId'] as number, res.dataBody['token'] as string);
  });

  it('refuses forged, misdirected, expired and unsigned id tokens with 9300, and never takes over an account', async () => {
    const other = await generateKeyPair('RS256');
    const header = (h: object) => Buffer.from(JSON.stringify(h)).toString('base64url');
    const claims = Buffer.from(JSON.stringify({ sub: 'olga', iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 600 })).toString('base64url');
    const publicPem = await exportSPKI(rsa.publicKey);
    const bad = {
      'wrong key': await idToken('olga', { key: other.privateKey }),
      'unknown kid': await idToken('olga', { key: other.privateKey, kid: 'rsa-9' }),
      'wrong issuer': await idToken('olga', { iss: 'https://evil.test.invalid' }),
      'wrong audience': await idToken('olga', { aud: 'another-app' }),
      expired: await idToken('olga', { exp: Math.floor(Date.now() / 1000) - 600 }),
      'alg none': `${header({ alg: 'none', kid: 'rsa-1' })}.${claims}.`,
      'HS256 with the public key': await new SignJWT({ sub: 'olga' }).setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' }).setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('10m').sign(new TextEncoder().encode(publicPem)),
      garbage: 'not.a.jwt',
    };
    const codes: Record<string, string> = {};
    for (const [what, token] of Object.entries(bad)) codes[what] = (await api.post('/login', { idToken: token, protocol: 2 })).code;
    expect(codes).toEqual(Object.fromEntries(Object.keys(bad).map((k) => [k, '9300'])));
    expect((await api.post('/registerAccount', { userName: 'olga', idToken: bad['alg none'] })).code).toBe('9300');

    // Valid tokens that name someone else: hank's account belongs to the hook; the body's user must be the token's.
    expect((await api.post('/login', { idToken: await idToken('hank'), protocol: 2 })).code).toBe('9301');
    const olga = await api.post<{ userId: number }>('/registerAccount', { userName: 'olga', idToken: await idToken('olga') });
    expect(olga.code).toBe('9000');
    expect((await api.post('/login', { userId: olga.dataBody.userId, userName: 'olga', idToken: await idToken('mallory'), protocol: 2 })).code).toBe('9301');
    expect((await api.post('/registerAccount', { userName: 'olga', idToken: await idToken('mallory') })).code).toBe('9301');
    expect(jwksFetches).toBeLessThanOrEqual(3); // cached: bad tokens do not make the route hammer the provider
  });
});

describe('password hook', () => {
  it('accepts the hook\'s users, refuses its 401 with 9301, and answers 9305 when it fails, resets or is slow', async () => {
    hookMode = 'normal';
    const reg = await api.register('helga', HOOK_USERS['helga']!);
    expect(reg.code).toBe('9000');
    const helga = reg.dataBody.userId;
    const login = await api.login(helga, 'helga', 2, HOOK_USERS['helga']!);
    expect(login.code).toBe('9000');
    await api.offLine(helga, login.dataBody!.token);
    expect((await api.login(helga, 'helga', 2, 'wrong-password')).code).toBe('9301');
    expect((await api.register('nobody-at-the-hook', 'some-password')).code).toBe('9301');

    const codes: Record<string, string> = {};
    for (const mode of ['503', 'reset', 'slow'] as const) {
      hookMode = mode;
      codes[mode] = (await api.login(helga, 'helga', 2, HOOK_USERS['helga']!)).code;
      codes[`register ${mode}`] = (await api.register('helga', HOOK_USERS['helga']!)).code;
      // The route stays ready, and a user of another provider logs in and chats meanwhile.
      expect(await readyz()).toBe(200);
      const olga = await api.post<{ userId: number; token: string }>('/login', { idToken: await idToken('olga'), protocol: 2 });
      expect(olga.code).toBe('9000');
      expect((await api.p2p(olga.dataBody.userId, helga, `while-${mode}`, olga.dataBody.token)).code).toBe('7000');
      expect((await api.offLine(olga.dataBody.userId, olga.dataBody.token)).code).toBe('9000');
    }
    expect(codes).toEqual({ '503': '9305', reset: '9305', slow: '9305', 'register 503': '9305', 'register reset': '9305', 'register slow': '9305' });
    // Provider failures are not the user's: helga is not throttled, and gets the 3 messages sent meanwhile.
    hookMode = 'normal';
    const back = await connect('helga', { password: HOOK_USERS['helga']! });
    await expect.poll(() => back.inbox.map((m) => m.text)).toEqual(['while-503', 'while-reset', 'while-slow']);
    // Every hook answer was asked for anew (nothing cached): 2 normal logins + 1 wrong + 1 unknown + 6 failing + the SDK's register and login.
    expect(hookCalls.filter((c) => c.userName === 'helga' || c.userName === 'nobody-at-the-hook')).toHaveLength(1 + 1 + 1 + 1 + 6 + 2);
  });
});
