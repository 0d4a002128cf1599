/** POST /contacts/* through fastify's inject, with in-memory stores: tokens, refusals, the listing's presence. */
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { MemoryAuthStore } from '../../common/src/auth-store-memory.ts';
import { ManualClock } from '../../common/src/clock.ts';
import { MemoryContactStore } from '../../common/src/contacts/memory.ts';
import { createHttpApp } from '../../common/src/http.ts';
import { silentLogger } from '../../common/src/log.ts';
import { MemoryRouteStore } from '../../common/src/route-store/memory.ts';
import { RouteAuth } from './auth.ts';
import { registerContactRoutes } from './contacts-routes.ts';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
});

async function build(mode: 'cim' | 'password') {
  const clock = new ManualClock();
  const store = new MemoryRouteStore(clock);
  const contacts = new MemoryContactStore();
  const auth = new RouteAuth({ mode, secret: mode === 'password' ? 'contacts-routes-secret' : undefined, store: new MemoryAuthStore(clock), accounts: store, clock, tokenTtlMs: 60_000, refreshTtlMs: 600_000, maxFailures: 5, maxFailuresPerAddress: 50, failureWindowMs: 60_000 });
  app = createHttpApp(silentLogger, 64 * 1024);
  registerContactRoutes(app, { contacts, accounts: store, auth, tokenSchema: { type: 'string', maxLength: 4096 } });
  await app.ready();
  const post = async (url: string, payload: object) => (await app!.inject({ method: 'POST', url, payload })).json() as { code: string; dataBody: unknown };
  return { store, contacts, auth, post, clock };
}

describe('POST /contacts/*', () => {
  it('serves nobody in cim mode (9300): it cannot tell who asks', async () => {
    const { post, store } = await build('cim');
    const a = await store.registerAccount('a');
    const b = await store.registerAccount('b');
    for (const [url, body] of [['/contacts/add', { contactId: b.userId }], ['/contacts/remove', { contactId: b.userId }], ['/contacts/list', {}], ['/contacts/settings', { onlyContacts: true }]] as const) {
      expect((await post(url, { userId: a.userId, ...body })).code, url).toBe('9300');
    }
  });

  it('needs the caller\'s own token; adds, lists with presence, removes; refuses self and unknown users', async () => {
    const { post, store, auth } = await build('password');
    const a = await store.registerAccount('a');
    const b = await store.registerAccount('b');
    const tokenA = (await auth.issue(a.userId)).token;
    const tokenB = (await auth.issue(b.userId)).token;
    expect((await post('/contacts/add', { userId: a.userId, contactId: b.userId })).code).toBe('9300');
    expect((await post('/contacts/add', { userId: a.userId, token: tokenB, contactId: b.userId })).code).toBe('9300');
    expect((await post('/contacts/add', { userId: a.userId, token: tokenA, contactId: a.userId })).code).toBe('3000');
    expect((await post('/contacts/add', { userId: a.userId, token: tokenA, contactId: 999_999 })).code).toBe('7300');
    expect((await post('/contacts/add', { userId: a.userId, token: tokenA, contactId: 'x' })).code).toBe('3000');
    expect(await post('/contacts/add', { userId: a.userId, token: tokenA, contactId: b.userId })).toMatchObject({ code: '9000', dataBody: { changed: true } });
    expect(await post('/contacts/add', { userId: a.userId, token: tokenA, contactId: b.userId })).toMatchObject({ code: '9000', dataBody: { changed: false } });
    expect((await post('/contacts/list', { userId: a.userId, token: tokenA })).dataBody).toEqual({ contacts: [{ userId: b.userId, userName: 'b', online: false }] });
    await store.login(b.userId, '127.0.0.1:1:2', 60_000);
    expect((await post('/contacts/list', { userId: a.userId, token: tokenA })).dataBody).toEqual({ contacts: [{ userId: b.userId, userName: 'b', online: true }] });
    expect(await post('/contacts/settings', { userId: a.userId, token: tokenA })).toMatchObject({ code: '9000', dataBody: { onlyContacts: false } });
    expect(await post('/contacts/settings', { userId: a.userId, token: tokenA, onlyContacts: true })).toMatchObject({ code: '9000', dataBody: { onlyContacts: true } });
    expect(await post('/contacts/remove', { userId: a.userId, token: tokenA, contactId: b.userId })).toMatchObject({ code: '9000', dataBody: { changed: true } });
    expect((await post('/contacts/list', { userId: a.userId, token: tokenA })).dataBody).toEqual({ contacts: [] });
  });
});
