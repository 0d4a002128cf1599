/** The route's HTTP contract through fastify's inject, with in-memory stores (no sockets). */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { ManualClock } from '../../common/src/clock.ts';
import { silentLogger } from '../../common/src/log.ts';
import { MemoryInboxStore } from '../../common/src/inbox/memory.ts';
import type { InboxStore } from '../../common/src/inbox/types.ts';
import { MessageRouter } from '../../common/src/message-router.ts';
import { MemoryMetaHub, MemoryMetaStore } from '../../common/src/meta-store/memory.ts';
import { createMetricsRegistry } from '../../common/src/metrics.ts';
import type { PushRequest } from '../../common/src/push.ts';
import { MemoryRouteStore } from '../../common/src/route-store/memory.ts';
import { createStrategy } from '../../common/src/selection.ts';
import { MemoryAuthStore } from '../../common/src/auth-store-memory.ts';
import { buildRouteApp } from './app.ts';
import { RouteAuth } from './auth.ts';
import { createRouteMetrics } from './metrics.ts';

let app: FastifyInstance;
let hub: MemoryMetaHub;
let store: MemoryRouteStore;
let inbox: InboxStore;
let pushes: { server: string; request: PushRequest }[];
let connected: Set<number>;
let clock: ManualClock;
const reachable = new Set<string>();

beforeEach(async () => {
  clock = new ManualClock();
  hub = new MemoryMetaHub();
  store = new MemoryRouteStore(clock);
  inbox = new MemoryInboxStore(clock);
  pushes = [];
  connected = new Set();
  reachable.clear();
  const meta = new MemoryMetaStore(hub);
  await meta.start();
  const push = {
    async push(server: string, request: PushRequest) {
      pushes.push({ server, request });
      const offline = (request.receivers ?? []).filter((r) => !connected.has(r));
      return { delivered: (request.receivers?.length ?? 0) - offline.length + (request.broadcast ? 1 : 0), offline };
    },
  };
  const registry = createMetricsRegistry('cim-route', false);
  app = buildRouteApp({
    store,
    // The inbox is read through a getter so a test can swap in a failing one.
    router: new MessageRouter({ directory: store, inbox: { append: (...a) => inbox.append(...a), pending: (...a) => inbox.pending(...a), ack: (...a) => inbox.ack(...a), maxSeq: (u) => inbox.maxSeq(u) }, meta, push, clock, log: silentLogger, limits: { maxEntries: 10, ttlMs: 60_000 } }),
    loginDeps: { store, meta, strategy: createStrategy('round-robin'), probe: async (s) => reachable.has(s.id), pendingTtlMs: 60_000 },
    registry,
    metrics: createRouteMetrics(registry),
    log: silentLogger,
    clock,
    checks: [],
    auth: new RouteAuth({ mode: 'cim', secret: undefined, store: new MemoryAuthStore(clock), accounts: store, clock, tokenTtlMs: 60_000, refreshTtlMs: 600_000, maxFailures: 5, maxFailuresPerAddress: 50, failureWindowMs: 60_000 }),
  });
});
afterEach(async () => {
  await app.close();
});

const post = async (url: string, payload: unknown) => {
  const res = await app.inject({ method: 'POST', url, payload: payload as object });
  return { status: res.statusCode, body: res.json() as { code: string; message: string; reqNo: null; dataBody: unknown }, raw: res.body };
};
const addServer = (host: string, isReachable = true) => {
  hub.set({ id: `${host}:11211:8081`, host, tcpPort: 11211, httpPort: 8081, data: { wsPath: '/ws', version: '', connections: 0, startedAt: 0 } });
  if (isReachable) reachable.add(`${host}:11211:8081`);
};

describe('route HTTP API', () => {
  it('answers with exactly CIM\'s envelope, keys in CIM\'s order', async () => {
    const { raw } = await post('/registerAccount', { userName: 'zhangsan', reqNo: 'r1', timeStamp: 1 });
    expect(raw).toMatch(/^\{"code":"9000","message":"Success","reqNo":null,"dataBody":\{"userId":\d+,"userName":"zhangsan"\}\}$/);
  });

  it('answers 7100 when no server is registered and never marks the user online', async () => {
    const { dataBody } = (await post('/registerAccount', { userName: 'u' })).body as { dataBody: { userId: number } };
    expect((await post('/login', { userId: dataBody.userId, userName: 'u' })).body.code).toBe('7100');
    expect(await store.getRoute(dataBody.userId)).toBeUndefined();
    addServer('10.0.0.1');
    expect((await post('/login', { userId: dataBody.userId, userName: 'u' })).body.code).toBe('9000');
  });

  it('never routes a login to an unreachable server', async () => {
    addServer('10.0.0.1', false);
    addServer('10.0.0.2');
    for (const name of ['a', 'b', 'c']) {
      const { dataBody } = (await post('/registerAccount', { userName: name })).body as { dataBody: { userId: number } };
      const login = await post('/login', { userId: dataBody.userId, userName: name });
      expect(login.body.dataBody).toEqual({ ip: '10.0.0.2', cimServerPort: 11211, httpPort: 8081 });
      expect(await store.getRoute(dataBody.userId)).toBe('10.0.0.2:11211:8081');
    }
  });

  it('answers null, not [], when nobody is online', async () => {
    const res = await app.inject({ method: 'GET', url: '/onlineUser' });
    expect(res.body).toBe('{"code":"9000","message":"Success","reqNo":null,"dataBody":null}');
  });

  it('pushes a group message once per server, excluding the sender', async () => {
    addServer('10.0.0.1');
    addServer('10.0.0.2');
    const { dataBody } = (await post('/registerAccount', { userName: 'g' })).body as { dataBody: { userId: number } };
    expect((await post('/groupRoute', { userId: dataBody.userId, msg: 'hello' })).body.code).toBe('9000');
    expect(pushes.map((p) => p.server).sort()).toEqual(['10.0.0.1:11211:8081', '10.0.0.2:11211:8081']);
    for (const p of pushes) expect(p.request).toMatchObject({ broadcast: true, excludeUserIds: [dataBody.userId], msg: 'hello', properties: { sendUserId: String(dataBody.userId), sendUserName: 'g' } });
  });

  it('stores every private message in the receiver\'s inbox: 7000 offline, 9000 live, each with its own id and seq', async () => {
    addServer('10.0.0.1');
    const a = ((await post('/registerAccount', { userName: 'a' })).body.dataBody as { userId: number }).userId;
    const b = ((await post('/registerAccount', { userName: 'b' })).body.dataBody as { userId: number }).userId;
    expect((await post('/p2pRoute', { userId: a, receiveUserId: b, msg: 'one' })).body.code).toBe('7000');
    expect((await post('/p2pRoute', { userId: a, receiveUserId: b, batchMsg: ['two', 'three'] })).body.code).toBe('7000');
    expect(pushes).toEqual([]); // no route: nothing pushed, everything stored
    const stored = await inbox.pending(b, 0, 100);
    expect(stored.map((e) => [e.seq, e.text, e.from.userId, e.chatType])).toEqual([[1, 'one', a, 'private'], [2, 'two', a, 'private'], [3, 'three', a, 'private']]);
    expect(new Set(stored.map((e) => e.msgId)).size).toBe(3);
    await post('/login', { userId: b, userName: 'b' });
    connected.add(b);
    // CIM's clients still call it; the server pushes the inbox at login, so the route pushes nothing.
    expect((await post('/fetchOfflineMsgs', { receiveUserId: b })).body.code).toBe('9000');
    expect(pushes).toEqual([]);
    expect((await post('/p2pRoute', { userId: a, receiveUserId: b, msg: 'live' })).body.code).toBe('9000');
    expect(pushes).toHaveLength(1);
    expect(pushes[0]!.request).toMatchObject({ receivers: [b], msg: 'live', properties: { sendUserId: String(a), sendUserName: 'a', seq: '4', chatType: 'private' } });
    // Pushed live but not acknowledged: it stays until the receiver acks it.
    expect((await inbox.pending(b, 0, 100)).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
  });

  it('looks a sender and a receiver up once a minute, not once per /p2pRoute, and an unknown one every time', async () => {
    addServer('10.0.0.1');
    const a = ((await post('/registerAccount', { userName: 'a' })).body.dataBody as { userId: number }).userId;
    const b = ((await post('/registerAccount', { userName: 'b' })).body.dataBody as { userId: number }).userId;
    const lookups: number[] = [];
    const getAccount = store.getAccount.bind(store);
    store.getAccount = async (userId) => (lookups.push(userId), getAccount(userId));
    for (const msg of ['one', 'two', 'three']) expect((await post('/p2pRoute', { userId: a, receiveUserId: b, msg })).body.code).toBe('7000');
    expect(lookups.sort((x, y) => x - y)).toEqual([a, b]);
    expect((await inbox.pending(b, 0, 10)).map((e) => [e.text, e.from.userName])).toEqual([['one', 'a'], ['two', 'a'], ['three', 'a']]);
    for (let i = 0; i < 2; i++) expect((await post('/p2pRoute', { userId: a, receiveUserId: 999_999, msg: 'x' })).body.code).toBe('7300');
    expect(lookups.filter((u) => u === 999_999)).toHaveLength(2);
    clock.advance(60_001); // (the inbox's 60 s TTL of this fixture drops the first three meanwhile)
    expect((await post('/p2pRoute', { userId: a, receiveUserId: b, msg: 'four' })).body.code).toBe('7000');
    expect(lookups).toHaveLength(6); // a and b once more after the minute
    expect((await inbox.pending(b, 0, 10)).map((e) => [e.text, e.from.userName])).toEqual([['four', 'a']]);
  });

  it('answers 7300 for an unknown receiver and 7200 when the inbox fails, storing nothing', async () => {
    addServer('10.0.0.1');
    const a = ((await post('/registerAccount', { userName: 'a' })).body.dataBody as { userId: number }).userId;
    const b = ((await post('/registerAccount', { userName: 'b' })).body.dataBody as { userId: number }).userId;
    expect((await post('/p2pRoute', { userId: a, receiveUserId: 999_999, msg: 'x' })).body).toEqual({ code: '7300', message: 'No such user', reqNo: null, dataBody: null });
    const working = inbox;
    inbox = { ...working, append: async () => { throw new Error('redis down'); } } as InboxStore;
    expect((await post('/p2pRoute', { userId: a, receiveUserId: b, msg: 'x' })).body.code).toBe('7200');
    inbox = working;
    expect(await inbox.pending(b, 0, 10)).toEqual([]);
    expect(pushes).toEqual([]);
  });

  it('removes a route on /offLine with server only when it still names that server', async () => {
    addServer('10.0.0.1');
    const { dataBody } = (await post('/registerAccount', { userName: 'two' })).body as { dataBody: { userId: number } };
    expect((await post('/login', { userId: dataBody.userId, userName: 'two' })).body.code).toBe('9000');
    expect((await post('/offLine', { userId: dataBody.userId, server: '10.9.9.9:11211:8081' })).body.code).toBe('9000');
    expect(await store.getRoute(dataBody.userId)).toBe('10.0.0.1:11211:8081');
    expect((await post('/offLine', { userId: dataBody.userId, server: '10.0.0.1:11211:8081' })).body.code).toBe('9000');
    expect(await store.getRoute(dataBody.userId)).toBeUndefined();
    // CIM's clients send no server: whatever route there is goes.
    expect((await post('/login', { userId: dataBody.userId, userName: 'two' })).body.code).toBe('9000');
    expect((await post('/offLine', { userId: dataBody.userId })).body.code).toBe('9000');
    expect(await store.getRoute(dataBody.userId)).toBeUndefined();
  });

  it('answers an unknown path with HTTP 404 and a catalogue code', async () => {
    const res = await app.inject({ method: 'POST', url: '/nope', payload: {} });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ code: '3000', message: 'invalid argument: no route POST /nope', reqNo: null, dataBody: null });
  });

  it.each([
    ['/registerAccount', {}],
    ['/registerAccount', { userName: '' }],
    ['/registerAccount', { userName: 'a'.repeat(257) }],
    ['/registerAccount', { userName: '   ' }],
    ['/registerAccount', { userName: ' alice' }],
    ['/registerAccount', { userName: 'evil\u202eegassem' }],
    ['/registerAccount', { userName: 'bad\nname' }],
    ['/login', { userId: 'x', userName: 'a' }],
    ['/login', { userId: 0, userName: 'a' }],
    ['/login', { userName: 'a' }],
    ['/offLine', {}],
    ['/offLine', { userId: 1, server: 'not-an-address' }],
    ['/offLine', { userId: 1, server: '10.0.0.1:11211' }],
    ['/groupRoute', { userId: 1 }],
    ['/groupRoute', { userId: 1, msg: '' }],
    ['/groupRoute', { userId: 1, msg: 'x'.repeat(2 * 1024 * 1024 + 1) }], // --max-message-bytes, in UTF-8 bytes
    ['/p2pRoute', { userId: 1, receiveUserId: 2 }],
    ['/p2pRoute', { userId: 1, receiveUserId: 2, batchMsg: [] }],
    ['/p2pRoute', { userId: 1, msg: 'x' }],
    ['/fetchOfflineMsgs', { receiveUserId: -5 }],
  ])('refuses %s %j with 3000 and HTTP 200', async (url, payload) => {
    const { status, body } = await post(url, payload);
    expect(status).toBe(200);
    expect(body).toMatchObject({ code: '3000', reqNo: null, dataBody: null });
    expect(body.message).toMatch(/^invalid argument: /);
  });

  it('answers a body that is not JSON with HTTP 400 and 3000', async () => {
    const res = await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/json' }, payload: '{nope' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: '3000', reqNo: null, dataBody: null });
  });
});
