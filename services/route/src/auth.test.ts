/** Password mode of the route through fastify's inject (in-memory stores), and the generated OpenAPI document. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { MemoryAuthStore } from '../../common/src/auth-store-memory.ts';
import { ManualClock } from '../../common/src/clock.ts';
import { MemoryInboxStore } from '../../common/src/inbox/memory.ts';
import { silentLogger } from '../../common/src/log.ts';
import { MessageRouter } from '../../common/src/message-router.ts';
import { MemoryMetaHub, MemoryMetaStore } from '../../common/src/meta-store/memory.ts';
import { createMetricsRegistry } from '../../common/src/metrics.ts';
import { MemoryRouteStore } from '../../common/src/route-store/memory.ts';
import { createStrategy } from '../../common/src/selection.ts';
import { buildRouteApp } from './app.ts';
import { RouteAuth } from './auth.ts';
import { createRouteMetrics } from './metrics.ts';

let app: FastifyInstance;
let clock: ManualClock;
let store: MemoryRouteStore;

beforeEach(async () => {
  clock = new ManualClock();
  store = new MemoryRouteStore(clock);
  const hub = new MemoryMetaHub();
  const meta = new MemoryMetaStore(hub);
  await meta.start();
  hub.set({ id: '10.0.0.1:11211:8081', host: '10.0.0.1', tcpPort: 11211, httpPort: 8081, data: { wsPath: '/ws', version: '', connections: 0, startedAt: 0 } });
  const registry = createMetricsRegistry('cim-route', false);
  const push = { push: async () => ({ delivered: 0, offline: [] }) };
  app = buildRouteApp({
    store,
    router: new MessageRouter({ directory: store, inbox: new MemoryInboxStore(clock), meta, push, clock, log: silentLogger, limits: { maxEntries: 10, ttlMs: 60_000 } }),
    loginDeps: { store, meta, strategy: createStrategy('round-robin'), probe: async () => true, pendingTtlMs: 60_000 },
    registry,
    metrics: createRouteMetrics(registry),
    log: silentLogger,
    clock,
    checks: [],
    auth: new RouteAuth({ mode: 'password', secret: 'unit-secret', store: new MemoryAuthStore(clock), accounts: store, clock, tokenTtlMs: 60_000, refreshTtlMs: 600_000, maxFailures: 3, maxFailuresPerAddress: 100, failureWindowMs: 60_000 }),
  });
});
afterEach(async () => {
  await app.close();
});

type Body = { code: string; message: string; dataBody: Record<string, unknown> | null };
const post = async (url: string, payload: object): Promise<Body> => (await app.inject({ method: 'POST', url, payload })).json() as Body;

async function account(name: string, password = 'pw-' + name.padEnd(8, 'x')) {
  const reg = await post('/registerAccount', { userName: name, password });
  expect(reg.code).toBe('9000');
  return { userId: reg.dataBody!['userId'] as number, userName: name, password };
}

describe('route in password mode', () => {
  it('registers with a password; the same password returns the same id, another is refused (9304), none is 3000', async () => {
    const a = await account('alice');
    expect((await post('/registerAccount', { userName: 'alice', password: a.password })).dataBody).toEqual({ userId: a.userId, userName: 'alice' });
    expect((await post('/registerAccount', { userName: 'alice', password: 'another-password' })).code).toBe('9304');
    expect((await post('/registerAccount', { userName: 'bob' })).code).toBe('3000');
    expect((await post('/registerAccount', { userName: 'bob', password: 'short' })).code).toBe('3000');
    // Only a hash is stored, with its parameters and salt.
    expect(await store.getCredential(a.userId)).toMatch(/^scrypt\$16384\$8\$1\$/);
  });

  it('logs in only with the password; issues a JWT, a refresh token and its lifetime', async () => {
    const a = await account('carol');
    expect((await post('/login', { userId: a.userId, userName: 'carol', protocol: 2 })).code).toBe('9301');
    expect((await post('/login', { userId: a.userId, userName: 'carol', protocol: 2, password: 'wrong-password' })).code).toBe('9301');
    const ok = await post('/login', { userId: a.userId, userName: 'carol', protocol: 2, password: a.password });
    expect(ok.code).toBe('9000');
    expect(ok.dataBody!['token']).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(ok.dataBody!['refreshToken']).toMatch(/^[\w-]{40,}$/);
    expect(ok.dataBody!['expiresIn']).toBe(60);
  });

  it('throttles an account after N failures (9302), even with the right password, until the window passes', async () => {
    const a = await account('dave');
    for (let i = 0; i < 3; i++) expect((await post('/login', { userId: a.userId, userName: 'dave', protocol: 2, password: `wrong-${i}-xxxx` })).code).toBe('9301');
    expect((await post('/login', { userId: a.userId, userName: 'dave', protocol: 2, password: a.password })).code).toBe('9302');
    clock.advance(60_001);
    expect((await post('/login', { userId: a.userId, userName: 'dave', protocol: 2, password: a.password })).code).toBe('9000');
  });

  it('rotates refresh tokens: each works once; logout revokes the session; a password change revokes everything', async () => {
    const a = await account('erin');
    const login = (await post('/login', { userId: a.userId, userName: 'erin', protocol: 2, password: a.password })).dataBody!;
    const first = await post('/refresh', { userId: a.userId, refreshToken: login['refreshToken'] as string });
    expect(first.code).toBe('9000');
    expect((await post('/refresh', { userId: a.userId, refreshToken: login['refreshToken'] as string })).code).toBe('9300'); // used up
    const token = first.dataBody!['token'] as string;
    expect((await post('/fetchOfflineMsgs', { receiveUserId: a.userId, token })).code).toBe('9000');
    expect((await post('/offLine', { userId: a.userId, token })).code).toBe('9000');
    expect((await post('/fetchOfflineMsgs', { receiveUserId: a.userId, token })).code).toBe('9300');
    expect((await post('/refresh', { userId: a.userId, refreshToken: first.dataBody!['refreshToken'] as string })).code).toBe('9300');

    const again = (await post('/login', { userId: a.userId, userName: 'erin', protocol: 2, password: a.password })).dataBody!;
    clock.advance(1);
    expect((await post('/changePassword', { userId: a.userId, password: a.password, newPassword: 'brand-new-password' })).code).toBe('9000');
    expect((await post('/fetchOfflineMsgs', { receiveUserId: a.userId, token: again['token'] as string })).code).toBe('9300');
    expect((await post('/refresh', { userId: a.userId, refreshToken: again['refreshToken'] as string })).code).toBe('9300');
    expect((await post('/login', { userId: a.userId, userName: 'erin', protocol: 2, password: a.password })).code).toBe('9301');
  });

  it('answers 9303 for an expired token and 9300 for another user\'s token', async () => {
    const a = await account('frank');
    const b = await account('grace');
    const tokenA = (await post('/login', { userId: a.userId, userName: 'frank', protocol: 2, password: a.password })).dataBody!['token'] as string;
    expect((await post('/p2pRoute', { userId: b.userId, receiveUserId: a.userId, msg: 'x', token: tokenA })).code).toBe('9300');
    expect((await post('/groupRoute', { userId: a.userId, msg: 'x' })).code).toBe('9300');
    clock.advance(61_000);
    expect((await post('/p2pRoute', { userId: a.userId, receiveUserId: b.userId, msg: 'x', token: tokenA })).code).toBe('9303');
  });
});

describe('OpenAPI', () => {
  it('documents every registered route with its body schema at /openapi.json', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { openapi: string; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> } }>> };
    expect(doc.openapi).toMatch(/^3\./);
    const routes = app.printRoutes({ commonPrefix: false });
    const posts = ['/registerAccount', '/login', '/refresh', '/changePassword', '/offLine', '/p2pRoute', '/groupRoute', '/fetchOfflineMsgs'];
    for (const path of posts) {
      expect(routes).toContain(path);
      const op = doc.paths[path]?.['post'];
      expect(op, path).toBeDefined();
      expect(Object.keys(op!.requestBody!.content['application/json']!.schema.properties ?? {}).length, path).toBeGreaterThan(0);
    }
    expect(doc.paths['/login']!['post']!.requestBody!.content['application/json']!.schema.properties).toHaveProperty('password');
    // Clients (cim chat) learn the mode here: in password mode a registration requires the password.
    expect((doc.paths['/registerAccount']!['post']!.requestBody!.content['application/json']!.schema as { required?: string[] }).required).toContain('password');
    for (const path of ['/onlineUser', '/healthz', '/readyz', '/metrics']) expect(doc.paths[path]?.['get'], path).toBeDefined();
  });
});
