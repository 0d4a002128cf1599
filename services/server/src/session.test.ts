/** Honest writes and close codes: a session owns its state; every server close says why (GOAWAY + code). */
import { beforeEach, describe, expect, it } from 'vitest';
import { Command } from '../../common/src/codec.ts';
import { buildFixture, FakeTransport, SELF, settle, type Fixture } from './node-fixture.ts';
import { Session } from './session.ts';

let f: Fixture;
beforeEach(async () => {
  f = await buildFixture();
});

/** Makes every maxSeq of the inbox wait until the test calls the release it adds to the returned list (in order). */
function holdMaxSeq(): Array<() => void> {
  const memory = f.memoryInbox;
  const held: Array<() => void> = [];
  f.inbox = Object.assign(Object.create(memory) as typeof memory, {
    maxSeq: (id: number) => new Promise<number>((resolve) => held.push(() => resolve(memory.maxSeq(id)))),
  });
  return held;
}

describe('session', () => {
  it('goes connecting -> ready -> closing -> closed through its own methods', () => {
    const t = new FakeTransport();
    const s = new Session(t, 0);
    expect(s.status).toBe('connecting');
    expect(s.login(5, 'five')).toBe(true);
    expect(s.login(6, 'six')).toBe(false);
    expect([s.status, s.userId, s.userName]).toEqual(['ready', 5, 'five']);
    s.close('slow-consumer');
    expect([s.status, s.closeReason, t.closedWith]).toEqual(['closing', 'slow-consumer', 4008]);
    expect(s.markClosed()).toBe(true);
    expect(s.markClosed()).toBe(false);
    expect(s.status).toBe('closed');
  });

  it('reports a write to a closing or closed session, or a dead connection, as not written', () => {
    const t = new FakeTransport();
    const s = new Session(t, 0);
    s.login(1, 'one');
    expect(s.write({ cmd: Command.MESSAGE, reqMsg: 'a' })).toBe(true);
    t.writable = false;
    expect(s.write({ cmd: Command.MESSAGE, reqMsg: 'b' })).toBe(false);
    t.writable = true;
    s.close('heartbeat-timeout');
    expect(s.write({ cmd: Command.MESSAGE, reqMsg: 'c' })).toBe(false);
    s.markClosed();
    expect(s.write({ cmd: Command.MESSAGE, reqMsg: 'd' })).toBe(false);
    expect(t.frames.map((x) => x.reqMsg)).toEqual(['a']);
  });

  it('never counts a push to a closing session as delivered', async () => {
    const a = await f.connect('a');
    a.session.close('slow-consumer');
    expect(f.node.handlePush({ receivers: [a.userId], msg: 'dropped?', properties: {} })).toEqual({ delivered: 0, offline: [a.userId] });
    a.transport.writable = false;
    const b = await f.connect('b');
    b.transport.writable = false;
    expect(f.node.handlePush({ receivers: [b.userId], msg: 'dropped?', properties: {} })).toEqual({ delivered: 0, offline: [b.userId] });
    expect(f.node.handlePush({ broadcast: true, msg: 'all', properties: {} })).toEqual({ delivered: 0, offline: [] });
  });
});

describe('server-initiated closes', () => {
  it('replaces an older session of the same user with 4100 (terminal) and keeps the newer one', async () => {
    const old = await f.connect('dup');
    const newer = await f.connect('dup');
    expect(old.transport.frames.at(-1)).toMatchObject({ cmd: Command.GOAWAY, reqMsg: 'replaced by a newer login of the same user', properties: { code: '4100', reconnect: '0' } });
    expect(old.transport.closedWith).toBe(4100);
    expect(newer.transport.closedWith).toBeUndefined();
    f.node.closed(old.session);
    expect(f.node.hub.session(newer.userId)).toBe(newer.session);
    expect(await f.store.getRoute(newer.userId)).not.toBeUndefined();
  });

  it('sends GOAWAY over TCP too, and none to CIM clients', async () => {
    const tcp2 = await f.connect('tcp2', { protocol: '2' }, 'tcp');
    const cim = await f.connect('cim', {}, 'tcp');
    f.node.reject(tcp2.session, 'moved-elsewhere', 'test');
    f.node.reject(cim.session, 'moved-elsewhere', 'test');
    expect(tcp2.transport.frames.at(-1)).toMatchObject({ cmd: Command.GOAWAY, properties: { code: '4010', reconnect: '1' } });
    expect(cim.transport.frames).toEqual([]);
    expect([tcp2.transport.closedWith, cim.transport.closedWith]).toEqual([4010, 4010]);
  });

  it('refuses a login with 7200 and the retryable close 4003 when the store fails', async () => {
    const { userId } = await f.store.registerAccount('unlucky');
    f.inbox = { ...f.inbox, maxSeq: async () => Promise.reject(new Error('redis down')) };
    const t = new FakeTransport();
    await f.send(f.node.open(t), { requestId: userId, reqMsg: 'unlucky', properties: { protocol: '2' } });
    expect(t.frames.map((x) => [x.cmd, x.properties['code']])).toEqual([[Command.LOGIN_RESPONSE, '7200'], [Command.GOAWAY, '4003']]);
    expect(t.frames[1]!.properties['reconnect']).toBe('1');
    expect(t.closedWith).toBe(4003);
    // The presence written before the failing step is taken back: a route left here would answer the
    // client's next /login with 5000 (Repeat login) until it expired.
    expect(await f.store.getRoute(userId)).toBeUndefined();
  });

  it('writes no presence for a LOGIN_REQUEST whose connection closed while it waited for the store', async () => {
    // The real node: the store stalled, the login timeout closed the connection, the client logged in elsewhere
    // and out again; a presence written now would make the route answer the client's next /login with 5000.
    const { userId } = await f.store.registerAccount('late');
    const getAccount = f.store.getAccount.bind(f.store);
    let release = () => {};
    f.store.getAccount = (id) => new Promise((resolve) => (release = () => resolve(getAccount(id))));
    const refreshed: number[][] = [];
    const refreshPresence = f.store.refreshPresence.bind(f.store);
    f.store.refreshPresence = (server, ids, ttl) => (refreshed.push([...ids]), refreshPresence(server, ids, ttl));
    const t = new FakeTransport();
    await f.send(f.node.open(t), { requestId: userId, reqMsg: 'late', properties: { protocol: '2' } });
    f.clock.advance(5_001);
    f.node.sweep();
    expect(t.closedWith).toBe(4001);
    release();
    await settle();
    expect(refreshed).toEqual([]);
    expect(await f.store.getRoute(userId)).toBeUndefined();
    expect(t.of(Command.LOGIN_RESPONSE)).toEqual([]);
  });

  it("keeps the route a newer login of the same user wrote here when an abandoned login gives up", async () => {
    // A failover storm: attempt A waited on a busy store, its client gave up and logged in again here as B. A's undo
    // ran while B was between writing the route and binding: it deleted B's route, and the user stayed online
    // without one (every message to it waited for its next SYNC) until the presence refresh put it back.
    const { userId } = await f.store.registerAccount('twice');
    const held = holdMaxSeq();
    const a = new FakeTransport();
    const sessionA = f.node.open(a);
    await f.send(sessionA, { requestId: userId, reqMsg: 'twice', cmd: Command.LOGIN_REQUEST, properties: { protocol: '2' } });
    expect(held).toHaveLength(1); // A waits in maxSeq, its route written
    f.node.closed(sessionA); // the client gave up on A
    const b = new FakeTransport();
    const sessionB = f.node.open(b);
    await f.send(sessionB, { requestId: userId, reqMsg: 'twice', cmd: Command.LOGIN_REQUEST, properties: { protocol: '2' } });
    // A's store call answers first (B may be waiting in maxSeq too, or for A's turn), then whatever B waits for.
    while (held.length > 0) {
      held.shift()!();
      await settle();
    }
    expect(sessionB.status).toBe('ready');
    expect(b.of(Command.LOGIN_RESPONSE).map((r) => r.properties['code'])).toEqual(['9000']);
    expect(await f.store.getRoute(userId)).toBe(SELF);
  });

  it('keeps the route a newer login of the same user is writing here when the older session closes meanwhile', async () => {
    const a = await f.connect('again');
    const held = holdMaxSeq();
    const b = new FakeTransport();
    const sessionB = f.node.open(b);
    await f.send(sessionB, { requestId: a.userId, reqMsg: 'again', cmd: Command.LOGIN_REQUEST, properties: { protocol: '2' } });
    expect(held).toHaveLength(1); // B refreshed the route and waits in maxSeq
    f.node.closed(a.session); // the older session ends before B is bound
    await settle();
    held.shift()!();
    await settle();
    expect(sessionB.status).toBe('ready');
    expect(await f.store.getRoute(a.userId)).toBe(SELF);
    // And once B closes with no login in progress, the route goes.
    f.node.closed(sessionB);
    await settle();
    expect(await f.store.getRoute(a.userId)).toBeUndefined();
  });

  it('closes a connection that never logs in with 4001', async () => {
    const t = new FakeTransport();
    f.node.open(t);
    f.clock.advance(5_001);
    f.node.sweep();
    expect(t.closedWith).toBe(4001);
  });
});
