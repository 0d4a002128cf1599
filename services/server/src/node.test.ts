/** The server core with fake transports and in-memory stores: no sockets. */
import { beforeEach, describe, expect, it } from 'vitest';
import { issueToken } from '../../common/src/auth.ts';
import { Command, encodeMessage } from '../../common/src/codec.ts';
import { buildFixture, FakeTransport, SELF, settle, type Fixture } from './node-fixture.ts';

let f: Fixture;

describe('server node', () => {
  beforeEach(async () => {
    f = await buildFixture();
  });

  it('logs a client in, answers LOGIN_RESPONSE with maxSeq and marks it online on this server', async () => {
    const alice = await f.connect('alice');
    expect(alice.transport.frames).toEqual([{ requestId: alice.userId, reqMsg: '', cmd: Command.LOGIN_RESPONSE, properties: { code: '9000', maxSeq: '0' }, batchReqMsg: [] }]);
    expect(await f.store.getRoute(alice.userId)).toBe(SELF);
  });

  it('sends CIM clients no extension frames', async () => {
    const legacy = await f.connect('legacy', {});
    expect(legacy.session.status).toBe('ready');
    expect(legacy.transport.frames).toEqual([]);
  });

  it('refuses a login whose name does not match the account, terminally (4101)', async () => {
    const { userId } = await f.store.registerAccount('bob');
    const t = new FakeTransport();
    await f.send(f.node.open(t), { requestId: userId, reqMsg: 'mallory', properties: { protocol: '2' } });
    expect(t.frames.map((x) => [x.cmd, x.properties['code']])).toEqual([[Command.LOGIN_RESPONSE, '9100'], [Command.GOAWAY, '4101']]);
    expect(t.frames[1]!.properties['reconnect']).toBe('0');
    expect(t.closedWith).toBe(4101);
  });

  it('requires a valid token when an auth secret is set', async () => {
    f = await buildFixture({ authSecret: 's3cret' });
    const { userId } = await f.store.registerAccount('carol');
    const good = new FakeTransport();
    const bad = new FakeTransport();
    f.node.frame(f.node.open(good), encodeMessage({ requestId: userId, reqMsg: 'carol', properties: { protocol: '2', token: (await issueToken('s3cret', userId, 'sid', f.clock.now())).token } }));
    f.node.frame(f.node.open(bad), encodeMessage({ requestId: userId, reqMsg: 'carol', properties: { protocol: '2', token: (await issueToken('other', userId, 'sid', f.clock.now())).token } }));
    await settle();
    expect(good.frames[0]!.properties['code']).toBe('9000');
    expect(bad.frames[0]!.properties).toEqual({ code: '9300', reason: 'token bad-signature' });
    expect(bad.closedWith).toBe(4101);
  });

  it('answers PING with the pong frame even before login', async () => {
    const t = new FakeTransport();
    f.node.frame(f.node.open(t), encodeMessage({ reqMsg: 'ping', cmd: Command.PING }));
    expect(t.frames).toEqual([{ requestId: 0, reqMsg: 'pong', cmd: Command.PING, properties: {}, batchReqMsg: [] }]);
  });

  it('closes only the connection that sent undecodable bytes (1003)', async () => {
    const alice = await f.connect('alice');
    const t = new FakeTransport();
    f.node.frame(f.node.open(t), Buffer.from([0x0a, 0xff]));
    expect(t.closedWith).toBe(1003);
    expect(alice.transport.closedWith).toBeUndefined();
  });

  it('delivers in-band private messages in the order they were sent, with SENT acks carrying seq', async () => {
    const a = await f.connect('a');
    const b = await f.connect('b');
    for (let i = 0; i < 20; i++) f.node.frame(a.session, encodeMessage({ cmd: Command.MESSAGE, reqMsg: `m${i}`, properties: { msgId: `id${i}`, receiveUserId: String(b.userId) } }));
    await expect.poll(() => b.transport.of(Command.MESSAGE).length).toBe(20);
    const got = b.transport.of(Command.MESSAGE);
    expect(got.map((x) => x.reqMsg)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    expect(got.map((x) => x.properties['seq'])).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));
    expect(got[0]!.properties).toMatchObject({ msgId: 'id0', sendUserId: String(a.userId), sendUserName: 'a', receiveUserId: String(b.userId), chatType: 'private', sentAt: String(f.clock.now()) });
    const acks = a.transport.of(Command.MESSAGE_ACK);
    expect(acks.map((x) => x.properties)).toEqual(Array.from({ length: 20 }, (_, i) => ({ msgId: `id${i}`, code: '9000', seq: String(i + 1), online: '1' })));
  });

  it('stores for an offline receiver (SENT, online 0), refuses 7300 for an unknown one and 3000 for a malformed one', async () => {
    const a = await f.connect('a');
    const { userId: away } = await f.store.registerAccount('away');
    await f.send(a.session, { cmd: Command.MESSAGE, reqMsg: 'x', properties: { msgId: '1', receiveUserId: String(away) } });
    await f.send(a.session, { cmd: Command.MESSAGE, reqMsg: 'x', properties: { msgId: '2', receiveUserId: 'bob' } });
    await f.send(a.session, { cmd: Command.MESSAGE, reqMsg: 'x', properties: { msgId: '3', receiveUserId: '987654' } });
    await f.send(a.session, { cmd: Command.MESSAGE, reqMsg: 'x', properties: { msgId: 'bad id!', receiveUserId: String(away) } });
    expect(a.transport.of(Command.MESSAGE_ACK).map((x) => x.properties)).toEqual([
      { msgId: '1', code: '9000', seq: '1', online: '0' },
      { msgId: '2', code: '3000', retryable: '0', reason: 'receiveUserId must be a user id' },
      { msgId: '3', code: '7300', retryable: '0', reason: 'No such user' },
      { msgId: 'bad id!', code: '3000', retryable: '0', reason: 'msgId must match [A-Za-z0-9_-]{1,64}' },
    ]);
    expect((await f.inbox.pending(away, 0, 10)).map((e) => [e.seq, e.msgId, e.text])).toEqual([[1, '1', 'x']]);
  });

  it('broadcasts one encoding to everyone logged in except the excluded sender', async () => {
    const a = await f.connect('a');
    const b = await f.connect('b');
    const c = await f.connect('c', {}, 'tcp');
    const result = f.node.handlePush({ broadcast: true, excludeUserIds: [a.userId], msg: 'all', properties: { sendUserId: String(a.userId), sendUserName: 'a' } });
    expect(result).toEqual({ delivered: 2, offline: [] });
    const expected = { requestId: 0, reqMsg: 'all', cmd: Command.MESSAGE, properties: { sendUserId: String(a.userId), sendUserName: 'a' }, batchReqMsg: [] };
    expect(b.transport.frames.at(-1)).toEqual(expected);
    expect(c.transport.frames.at(-1)).toEqual(expected); // CIM's TCP client reads sendUserName and reqMsg
    expect(a.transport.frames.some((x) => x.reqMsg === 'all')).toBe(false);
  });

  it('sends group MESSAGE frames in-band to everyone else and acks them once', async () => {
    const a = await f.connect('a');
    const b = await f.connect('b');
    await f.send(a.session, { cmd: Command.MESSAGE, reqMsg: 'hi all', properties: { msgId: 'g1' } });
    expect(a.transport.of(Command.MESSAGE_ACK).map((x) => x.properties)).toEqual([{ msgId: 'g1', code: '9000' }]);
    expect(b.transport.of(Command.MESSAGE).map((x) => [x.reqMsg, x.properties['chatType'], x.properties['msgId']])).toEqual([['hi all', 'group', 'g1']]);
    expect(await f.inbox.maxSeq(b.userId)).toBe(0); // live only, never stored
  });

  it('closes a slow consumer whose backlog exceeds the limit (4008)', async () => {
    const a = await f.connect('a');
    a.transport.buffered = 5000;
    f.node.handlePush({ receivers: [a.userId], msg: 'x', properties: {} });
    expect(a.transport.closedWith).toBe(4008);
  });

  it('evicts silent clients on sweep (4000) and clears their presence when the transport closes', async () => {
    const a = await f.connect('a');
    f.clock.advance(30_001);
    f.node.sweep();
    expect(a.transport.closedWith).toBe(4000);
    expect(a.transport.frames.at(-1)).toMatchObject({ cmd: Command.GOAWAY, reqMsg: 'heartbeat timeout', properties: { code: '4000', reconnect: '1' } });
    f.node.closed(a.session);
    await settle();
    expect(await f.store.getRoute(a.userId)).toBeUndefined();
  });

  it('pushes the pending inbox right after a login as single MESSAGE frames with their own ids and replay=1', async () => {
    const { userId } = await f.store.registerAccount('late');
    const from = { userId: 9, userName: 'x' };
    await f.inbox.append(userId, { msgId: 'k1', from, text: 'kept for you', sentAt: 1, chatType: 'private' }, { maxEntries: 10, ttlMs: 60_000 });
    await f.inbox.append(userId, { msgId: 'k2', from, text: 'and this', sentAt: 2, chatType: 'private' }, { maxEntries: 10, ttlMs: 60_000 });
    const late = await f.connect('late');
    expect(late.transport.frames.map((x) => x.cmd)).toEqual([Command.LOGIN_RESPONSE, Command.MESSAGE, Command.MESSAGE]);
    expect(late.transport.frames[0]!.properties).toEqual({ code: '9000', maxSeq: '2' });
    expect(late.transport.frames.slice(1).map((x) => [x.reqMsg, x.properties])).toEqual([
      ['kept for you', { sendUserId: '9', sendUserName: 'x', msgId: 'k1', sentAt: '1', chatType: 'private', seq: '1', receiveUserId: String(userId), replay: '1' }],
      ['and this', { sendUserId: '9', sendUserName: 'x', msgId: 'k2', sentAt: '2', chatType: 'private', seq: '2', receiveUserId: String(userId), replay: '1' }],
    ]);
    // Written is not acknowledged: they stay until the client's RECEIPT.
    expect((await f.inbox.pending(userId, 0, 10)).map((e) => e.seq)).toEqual([1, 2]);
  });

  it('on drain sends GOAWAY 1001 reconnect to extension clients and closes everyone', async () => {
    const a = await f.connect('a');
    const legacy = await f.connect('legacy', {});
    await f.node.drain();
    expect(a.transport.frames.at(-1)).toEqual({ requestId: a.userId, cmd: Command.GOAWAY, reqMsg: 'server shutting down', properties: { code: '1001', reconnect: '1' }, batchReqMsg: [] });
    expect(a.transport.closedWith).toBe(1001);
    expect(legacy.transport.frames).toEqual([]);
    expect(legacy.transport.closedWith).toBe(1001);
    expect(await f.store.getRoute(a.userId)).toBeUndefined();
    const late = new FakeTransport();
    await f.send(f.node.open(late), { requestId: a.userId, reqMsg: 'a', properties: { protocol: '2' } });
    expect(late.closedWith).toBe(1001);
  });
});
