/** The server core with fake transports and in-memory stores: no sockets. */
import { beforeEach, describe, expect, it } from 'vitest';
import { issueToken } from '../../common/src/auth.ts';
import { ManualClock } from '../../common/src/clock.ts';
import { Command, decodeMessage, encodeMessage, type CimFrame } from '../../common/src/codec.ts';
import { silentLogger } from '../../common/src/log.ts';
import { MessageRouter } from '../../common/src/message-router.ts';
import { MemoryMetaHub, MemoryMetaStore } from '../../common/src/meta-store/memory.ts';
import { createMetricsRegistry } from '../../common/src/metrics.ts';
import { MemoryRouteStore } from '../../common/src/route-store/memory.ts';
import { createServerMetrics } from './metrics.ts';
import { ServerNode } from './node.ts';
import type { CloseReason, Session, TransportPort } from './session.ts';

const SELF = '127.0.0.1:11211:8081';

class FakeTransport implements TransportPort {
  readonly kind = 'ws' as const;
  readonly remoteAddress = 'fake';
  readonly frames: CimFrame[] = [];
  closedWith: CloseReason | undefined;
  buffered = 0;
  bufferedBytes = () => this.buffered;
  writeBytes = (bytes: Uint8Array) => void this.frames.push(decodeMessage(bytes));
  close = (reason: CloseReason) => void (this.closedWith ??= reason);
}

let clock: ManualClock;
let store: MemoryRouteStore;
let node: ServerNode;

function build(authSecret?: string) {
  clock = new ManualClock();
  store = new MemoryRouteStore(clock);
  const meta = new MemoryMetaStore(new MemoryMetaHub());
  const push = { push: async (_server: string, req: Parameters<ServerNode['handlePush']>[0]) => node.handlePush(req) };
  node = new ServerNode({
    selfId: SELF,
    store,
    router: new MessageRouter({ store, meta, push, clock, log: silentLogger, offlineTtlMs: 60_000, offlineMaxPerUser: 10 }),
    clock,
    log: silentLogger,
    metrics: createServerMetrics(createMetricsRegistry('cim-server', false)),
    policy: { heartbeatTimeoutMs: 30_000, loginTimeoutMs: 5_000 },
    presenceTtlMs: 90_000,
    maxQueueBytes: 1000,
    authSecret,
  });
}

/** Lets queued frame handling (promise chains) finish. */
const settle = () => new Promise((r) => setTimeout(r, 0));

async function connect(userName: string, props: Record<string, string> = { protocol: '2' }) {
  const account = await store.registerAccount(userName);
  const transport = new FakeTransport();
  const session = node.open(transport);
  node.handleFrame(session, encodeMessage({ requestId: account.userId, reqMsg: userName, cmd: Command.LOGIN_REQUEST, properties: props }));
  await settle();
  await settle();
  return { ...account, transport, session };
}

describe('server node', () => {
  beforeEach(() => build());

  it('logs a client in, answers LOGIN_RESPONSE and marks it online on this server', async () => {
    const alice = await connect('alice');
    expect(alice.transport.frames).toEqual([{ requestId: alice.userId, reqMsg: '', cmd: Command.LOGIN_RESPONSE, properties: { code: '9000' }, batchReqMsg: [] }]);
    expect(await store.getRoute(alice.userId)).toBe(SELF);
  });

  it('sends CIM clients no extension frames', async () => {
    const legacy = await connect('legacy', {});
    expect(legacy.session.status).toBe('ready');
    expect(legacy.transport.frames).toEqual([]);
  });

  it('refuses a login whose name does not match the account', async () => {
    const { userId } = await store.registerAccount('bob');
    const t = new FakeTransport();
    node.handleFrame(node.open(t), encodeMessage({ requestId: userId, reqMsg: 'mallory', properties: { protocol: '2' } }));
    await settle();
    expect(t.frames[0]!.properties['code']).toBe('9100');
    expect(t.closedWith).toBe('login-refused');
  });

  it('requires a valid token when an auth secret is set', async () => {
    build('s3cret');
    const { userId } = await store.registerAccount('carol');
    const good = new FakeTransport();
    node.handleFrame(node.open(good), encodeMessage({ requestId: userId, reqMsg: 'carol', properties: { protocol: '2', token: issueToken('s3cret', userId, clock.now()) } }));
    const bad = new FakeTransport();
    node.handleFrame(node.open(bad), encodeMessage({ requestId: userId, reqMsg: 'carol', properties: { protocol: '2', token: issueToken('other', userId, clock.now()) } }));
    await settle();
    await settle();
    expect(good.frames[0]!.properties['code']).toBe('9000');
    expect(bad.frames[0]!.properties).toEqual({ code: '9300', reason: 'token bad-signature' });
  });

  it('answers PING with the pong frame even before login', async () => {
    const t = new FakeTransport();
    node.handleFrame(node.open(t), encodeMessage({ reqMsg: 'ping', cmd: Command.PING }));
    expect(t.frames).toEqual([{ requestId: 0, reqMsg: 'pong', cmd: Command.PING, properties: {}, batchReqMsg: [] }]);
  });

  it('closes only the connection that sent undecodable bytes', async () => {
    const alice = await connect('alice');
    const t = new FakeTransport();
    node.handleFrame(node.open(t), Buffer.from([0x0a, 0xff]));
    expect(t.closedWith).toBe('bad-frame');
    expect(alice.transport.closedWith).toBeUndefined();
  });

  it('delivers in-band private messages in the order they were sent, with acks', async () => {
    const a = await connect('a');
    const b = await connect('b');
    for (let i = 0; i < 20; i++) node.handleFrame(a.session, encodeMessage({ cmd: Command.MESSAGE, reqMsg: `m${i}`, properties: { msgId: `id${i}`, receiveUserId: String(b.userId) } }));
    await expect.poll(() => b.transport.frames.filter((f) => f.cmd === Command.MESSAGE).length).toBe(20);
    expect(b.transport.frames.filter((f) => f.cmd === Command.MESSAGE).map((f) => f.reqMsg)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    const acks = a.transport.frames.filter((f) => f.cmd === Command.MESSAGE_ACK);
    expect(acks.map((f) => f.properties['msgId'])).toEqual(Array.from({ length: 20 }, (_, i) => `id${i}`));
    expect(new Set(acks.map((f) => f.properties['code']))).toEqual(new Set(['9000']));
  });

  it('acks 7000 for an offline receiver and 3000 for a malformed receiver', async () => {
    const a = await connect('a');
    const { userId: away } = await store.registerAccount('away');
    node.handleFrame(a.session, encodeMessage({ cmd: Command.MESSAGE, reqMsg: 'x', properties: { msgId: '1', receiveUserId: String(away) } }));
    node.handleFrame(a.session, encodeMessage({ cmd: Command.MESSAGE, reqMsg: 'x', properties: { msgId: '2', receiveUserId: 'bob' } }));
    await expect.poll(() => a.transport.frames.filter((f) => f.cmd === Command.MESSAGE_ACK).map((f) => f.properties['code'])).toEqual(['7000', '3000']);
  });

  it('broadcasts to everyone logged in except the excluded sender', async () => {
    const a = await connect('a');
    const b = await connect('b');
    const c = await connect('c');
    const result = node.handlePush({ broadcast: true, excludeUserIds: [a.userId], msg: 'all', properties: { sendUserId: String(a.userId) } });
    expect(result).toEqual({ delivered: 2, offline: [] });
    for (const u of [b, c]) expect(u.transport.frames.at(-1)).toMatchObject({ reqMsg: 'all', requestId: u.userId, properties: { receiveUserId: String(u.userId) } });
    expect(a.transport.frames.some((f) => f.reqMsg === 'all')).toBe(false);
  });

  it('closes a slow consumer whose backlog exceeds the limit', async () => {
    const a = await connect('a');
    a.transport.buffered = 5000;
    node.handlePush({ receivers: [a.userId], msg: 'x', properties: {} });
    expect(a.transport.closedWith).toBe('slow-consumer');
  });

  it('evicts silent clients on sweep and clears their presence when the transport closes', async () => {
    const a = await connect('a');
    clock.advance(30_001);
    node.sweep();
    expect(a.transport.closedWith).toBe('heartbeat-timeout');
    node.closed(a.session as Session);
    await settle();
    expect(await store.getRoute(a.userId)).toBeUndefined();
  });

  it('delivers stored offline messages right after a login, as OFFLINE frames', async () => {
    const { userId } = await store.registerAccount('late');
    await store.saveOffline(userId, { msg: 'kept for you', properties: { sendUserId: '9', sendUserName: 'x' }, createdAt: 1 }, 60_000, 10);
    const transport = new FakeTransport();
    node.handleFrame(node.open(transport), encodeMessage({ requestId: userId, reqMsg: 'late', properties: { protocol: '2' } }));
    await expect.poll(() => transport.frames.map((f) => f.cmd)).toEqual([Command.LOGIN_RESPONSE, Command.OFFLINE]);
    expect(transport.frames[1]).toMatchObject({ batchReqMsg: ['kept for you'], properties: { sendUserId: '9', receiveUserId: String(userId) } });
    expect(await store.takeOffline(userId, 10)).toEqual([]);
  });

  it('on drain sends GOAWAY to extension clients and closes everyone', async () => {
    const a = await connect('a');
    const legacy = await connect('legacy', {});
    await node.drain();
    expect(a.transport.frames.at(-1)!.cmd).toBe(Command.GOAWAY);
    expect(a.transport.closedWith).toBe('shutdown');
    expect(legacy.transport.frames).toEqual([]);
    expect(legacy.transport.closedWith).toBe('shutdown');
    expect(await store.getRoute(a.userId)).toBeUndefined();
  });
});
