/**
 * The SDK against the REAL route and servers (in-process, memory stores: testing/test-cim.ts). Faults
 * come from proxies in front of the servers (cut, mute, refuse) and, where a healthy server cannot be
 * made to misbehave on purpose, from a scripted peer.
 */
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { CloseCodes, Codes } from '../../../common/src/codes.ts';
import { Command, Prop, type CimFrame } from '../../../common/src/codec.ts';
import { ScriptedPeer, type PeerScript } from '../testing/scripted-peer.ts';
import { startTestCim, type TestCim } from '../testing/test-cim.ts';
import { CimClient, createClient, type ChatMessage, type ClientOptions, type ClientState, type ReceiptEvent, type StateChange } from './client.ts';
import { ClientErrorCode, CimClientError } from './errors.ts';
import { MemorySeenStore } from './seen-store.ts';

let cim: TestCim;

beforeEach(async () => {
  cim = await startTestCim({ servers: 2 });
});
afterEach(async () => {
  await cim.stop();
});

const FAST = { backoff: { initialDelayMs: 10, maxDelayMs: 40 }, requestTimeoutMs: 2_000 } as const;

async function connect(userName: string, extra: Partial<ClientOptions> = {}): Promise<CimClient> {
  const client = await createClient({ ...cim.clientOptions, userName, ...FAST, ...extra });
  onTestFinished(() => client.close());
  return client;
}

function collect(client: CimClient): { messages: ChatMessage[]; states: StateChange[]; receipts: ReceiptEvent[] } {
  const messages: ChatMessage[] = [];
  const states: StateChange[] = [];
  const receipts: ReceiptEvent[] = [];
  client.on('message', (m) => messages.push(m));
  client.on('state', (s) => states.push(s));
  client.on('receipt', (r) => receipts.push(r));
  return { messages, states, receipts };
}

function waitForState(client: CimClient, to: ClientState, timeoutMs = 5_000): Promise<StateChange> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`state ${to} not reached; state is ${client.state}`)), timeoutMs);
    const onState = (change: StateChange): void => {
      if (change.to !== to) return;
      clearTimeout(timer);
      client.off('state', onState);
      resolve(change);
    };
    client.on('state', onState);
  });
}

async function scriptedPeer(script: PeerScript = {}): Promise<ScriptedPeer> {
  const peer = await ScriptedPeer.start(script);
  onTestFinished(() => peer.stop());
  return peer;
}

describe('CimClient connect', () => {
  it('registers by name, logs in with protocol 2 and the token, and becomes ready over WebSocket', async () => {
    const states: string[] = [];
    const client = new CimClient({ ...cim.clientOptions, userName: 'alice', ...FAST });
    client.on('state', (s) => states.push(`${s.from}->${s.to}`));
    onTestFinished(() => client.close());
    await client.connect();

    expect(states).toEqual(['idle->connecting', 'connecting->ready']);
    expect(client.userId).toBeGreaterThan(0);
    expect(cim.routeCalls.map((c) => c.path)).toEqual(['POST /registerAccount', 'POST /login']);
    expect(cim.routeCalls[1]!.body).toEqual({ userId: client.userId, userName: 'alice', protocol: 2 });
    expect(client.info()).toMatchObject({ userName: 'alice', state: 'ready', transport: 'ws', reconnects: 0 });
    expect(client.info().remote).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
    expect(await cim.onlineUserIds()).toEqual([client.userId]);
  });

  it('works over TCP with the varint32 framing, sending LOGIN_REQUEST with protocol 2 and the token', async () => {
    const alice = await connect('alice', { transport: 'tcp' });
    const bob = await connect('bob', { transport: 'tcp' });
    const got = collect(bob);
    await alice.sendPrivate(bob.userId!, 'over tcp');
    await expect.poll(() => got.messages.map((m) => m.text)).toEqual(['over tcp']);
    expect(alice.info().remote).toMatch(/^tcp:\/\//);
    const login = cim.servers.flatMap((s) => s.tcp.received).find((f) => f.cmd === Command.LOGIN_REQUEST && f.requestId === alice.userId)!;
    expect(login.reqMsg).toBe('alice');
    expect(login.properties[Prop.protocol]).toBe('2');
    expect(login.properties[Prop.token]).toMatch(/.{16,}/);
  });

  it('logs in with a known userId without registering', async () => {
    const first = await connect('carol');
    const userId = first.userId!;
    await first.close();
    cim.routeCalls.length = 0;
    const again = await connect('carol', { userId });
    expect(again.userId).toBe(userId);
    expect(cim.routeCalls.map((c) => c.path)).toEqual(['POST /login']);
  });

  it('rejects a first login the route refuses, ends closed and leaves no session behind', async () => {
    const ok = await connect('dave');
    const userId = ok.userId!;
    await ok.close();
    const client = new CimClient({ ...cim.clientOptions, userName: 'not-dave', userId, ...FAST });
    const error = await client.connect().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(CimClientError);
    expect(error).toMatchObject({ code: ClientErrorCode.ROUTE_REJECTED, serverCode: Codes.ACCOUNT_NOT_MATCH.code, retryable: false });
    expect(client.state).toBe('closed');
    expect(await cim.onlineUserIds()).toEqual([]);
  });

  it('fails a duplicate login (5000) at once, and the first session keeps working', async () => {
    const first = await connect('erin');
    const second = new CimClient({ ...cim.clientOptions, userName: 'erin', ...FAST });
    await expect(second.connect()).rejects.toMatchObject({ code: ClientErrorCode.ROUTE_REJECTED, serverCode: Codes.REPEAT_LOGIN.code });
    expect(second.state).toBe('closed');
    expect(first.state).toBe('ready');
    expect(await cim.onlineUserIds()).toEqual([first.userId]);
  });

  it('rejects when the server refuses LOGIN_REQUEST and logs out of the route', async () => {
    const peer = await scriptedPeer({ loginCode: Codes.ACCOUNT_NOT_MATCH.code });
    cim.redirectNextLogin(peer.endpoint);
    const error = await createClient({ ...cim.clientOptions, userName: 'erin', ...FAST }).catch((err: unknown) => err);
    expect(error).toMatchObject({ code: ClientErrorCode.LOGIN_REJECTED, serverCode: Codes.ACCOUNT_NOT_MATCH.code, retryable: false });
    expect(cim.routeCalls.at(-1)!.path).toBe('POST /offLine');
    expect(await cim.onlineUserIds()).toEqual([]);
  });

  it('gives up after connectAttempts with a clear error when the route is unreachable', async () => {
    const attempts: number[] = [];
    const error = await createClient({
      routeUrl: 'http://127.0.0.1:1',
      userName: 'x',
      connectAttempts: 2,
      retryStrategy: (attempt) => (attempts.push(attempt), 5),
    }).catch((err: unknown) => err);
    expect(error).toMatchObject({ code: ClientErrorCode.ROUTE_UNAVAILABLE, retryable: true });
    expect(attempts).toEqual([1]);
  });

  it('retries a first connect to a server that is gone, after clearing the half-done login', async () => {
    // A crashed server the route still offers until ZooKeeper notices: nothing listens at its address.
    const crashed = await ScriptedPeer.start();
    const dead = crashed.endpoint;
    await crashed.stop();
    cim.redirectNextLogin(dead);
    const bob = await connect('bob');
    expect(bob.state).toBe('ready');
    expect(cim.routeCalls.map((c) => c.path)).toEqual(['POST /registerAccount', 'POST /login', 'POST /offLine', 'POST /login']);
    // The /offLine names the server of the failed grant, so only that stale route is removed.
    expect(cim.routeCalls[2]!.body).toMatchObject({ userId: bob.userId, server: `127.0.0.1:${dead.cimServerPort}:${dead.httpPort}` });
  });

  it('validates its options', () => {
    expect(() => new CimClient({ routeUrl: cim.routeUrl, userName: '' })).toThrow(/userName/);
    expect(() => new CimClient({ routeUrl: 'ftp://x', userName: 'a' })).toThrow(/http/);
    expect(() => new CimClient({ routeUrl: cim.routeUrl, userName: 'a', userId: -1 })).toThrow(/userId/);
    expect(() => new CimClient({ routeUrl: cim.routeUrl, userName: 'a', register: false })).toThrow(/register/);
    expect(() => new CimClient({ routeUrl: cim.routeUrl, userName: 'a', gapTimeoutMs: 0 })).toThrow(/gapTimeoutMs/);
    expect(() => new CimClient({ routeUrl: cim.routeUrl, userName: 'a', seenStore: {} as never })).toThrow(/seenStore/);
  });
});

describe('CimClient messaging', () => {
  it('delivers private and group messages between three clients; SENT carries the receiver’s seq', async () => {
    const [alice, bob, carol] = await Promise.all([connect('alice'), connect('bob'), connect('carol')]);
    const inbox = { alice: collect(alice).messages, bob: collect(bob).messages, carol: collect(carol).messages };

    const sent = await alice.sendPrivate(bob.userId!, 'hi bob');
    expect(sent).toMatchObject({ msgId: expect.stringMatching(/[0-9a-f-]{36}/), seq: 1, online: true });
    expect(await alice.sendPrivate(bob.userId!, 'again')).toMatchObject({ seq: 2 });
    await bob.sendPrivate('carol', 'hi carol, by name');
    await carol.sendGroup('hello all');

    await expect.poll(() => inbox.bob.map((m) => m.text)).toEqual(['hi bob', 'again', 'hello all']);
    await expect.poll(() => inbox.carol.map((m) => m.text)).toEqual(['hi carol, by name']);
    await expect.poll(() => inbox.alice.map((m) => m.text)).toEqual(['hello all']);
    expect(inbox.bob[0]).toMatchObject({ msgId: sent.msgId, seq: 1, chatType: 'private', replay: false, from: { userId: alice.userId, userName: 'alice' }, to: bob.userId, offline: false });
    expect(inbox.bob[2]).toMatchObject({ chatType: 'group', seq: undefined });
    expect(inbox.bob[0]!.sentAt).toBeTypeOf('number');
  });

  it('refuses an unknown receiver with 7300 (not retried), and validates its arguments', async () => {
    const alice = await connect('alice');
    await expect(alice.sendPrivate(424242, 'anyone?')).rejects.toMatchObject({ code: ClientErrorCode.RECEIVER_UNKNOWN, serverCode: Codes.RECEIVER_UNKNOWN.code, retryable: false });
    await expect(alice.sendPrivate('nobody', 'x')).rejects.toMatchObject({ code: ClientErrorCode.USER_NOT_FOUND });
    await expect(alice.sendGroup('')).rejects.toMatchObject({ code: ClientErrorCode.INVALID_ARGUMENT });
    await expect(alice.sendGroup('x', { msgId: 'not/valid' })).rejects.toMatchObject({ code: ClientErrorCode.INVALID_ARGUMENT });
    expect(alice.info().pendingSends).toBe(0);
  });

  it('stores a message for an offline receiver (SENT, online false) and delivers it at its login, replayed', async () => {
    const alice = await connect('alice');
    const bob0 = await connect('bob');
    const bobId = bob0.userId!;
    await bob0.close();
    const sent = await alice.sendPrivate(bobId, 'while you were away');
    expect(sent).toMatchObject({ online: false, seq: 1 });
    const messages: ChatMessage[] = [];
    await connect('bob', { userId: bobId, onMessage: (m) => messages.push(m) });
    await expect.poll(() => messages.map((m) => `${m.text}/${m.replay}/${m.seq}`)).toEqual(['while you were away/true/1']);
    expect(messages[0]).toMatchObject({ msgId: sent.msgId, offline: true });
  });

  it('acknowledges what it showed: delivered receipts reach the sender, markRead sends read receipts', async () => {
    const alice = await connect('alice');
    const bob = await connect('bob');
    const a = collect(alice);
    const b = collect(bob);
    const one = await alice.sendPrivate(bob.userId!, 'one');
    const two = await alice.sendPrivate(bob.userId!, 'two');
    await expect.poll(() => b.messages.length).toBe(2);
    await expect.poll(() => a.receipts.filter((r) => r.status === 'delivered').map((r) => r.msgId).sort()).toEqual([one.msgId, two.msgId].sort());
    expect(bob.markRead(b.messages)).toBe(true);
    await expect.poll(() => a.receipts.filter((r) => r.status === 'read').map((r) => r.msgId).sort()).toEqual([one.msgId, two.msgId].sort());
    expect(a.receipts).toHaveLength(4);
    expect(a.receipts.every((r) => r.to === bob.userId)).toBe(true);
  });

  it('shows a message once across crashes: pushed again until acknowledged, dropped by a shared seen-store', async () => {
    const alice = await connect('alice');
    const { receipts } = collect(alice);
    // A "crash": the connection is cut before the batched ack leaves, and the client does not come back.
    const crashing = { receiptDelayMs: 60_000, receiptBatchSize: 1_000, retryStrategy: () => null } as const;
    const crash = async (client: CimClient): Promise<void> => {
      const closed = waitForState(client, 'closed');
      cim.servers[cim.serverIndexOf(client)]!.dropAll();
      await closed;
    };
    // 1. bob shows the message, then crashes.
    const got1: ChatMessage[] = [];
    const bob1 = await connect('bob', { ...crashing, onMessage: (m) => got1.push(m) });
    const bobId = bob1.userId!;
    const sent = await alice.sendPrivate(bobId, 'exactly once');
    await expect.poll(() => got1.length).toBe(1);
    await crash(bob1);
    // 2. another device of bob gets it again (at least once, replayed), and crashes too.
    const device = new MemorySeenStore();
    const got2: ChatMessage[] = [];
    const bob2 = await connect('bob', { ...crashing, userId: bobId, seenStore: device, onMessage: (m) => got2.push(m) });
    await expect.poll(() => got2.map((m) => `${m.text}/${m.replay}/${m.seq}`)).toEqual(['exactly once/true/1']);
    await crash(bob2);
    // 3. that device restarted (same seen-store): the replay is dropped, and acknowledged.
    const got3: ChatMessage[] = [];
    const bob3 = await connect('bob', { userId: bobId, seenStore: device, onMessage: (m) => got3.push(m) });
    await expect.poll(() => receipts.filter((r) => r.status === 'delivered').map((r) => r.msgId)).toEqual([sent.msgId]);
    await bob3.close();
    // 4. nothing is left in the inbox: a brand-new device gets only what is new.
    const got4: ChatMessage[] = [];
    await connect('bob', { userId: bobId, onMessage: (m) => got4.push(m) });
    await alice.sendPrivate(bobId, 'marker');
    await expect.poll(() => got4.map((m) => m.text)).toEqual(['marker']);
    expect([got1.length, got2.length, got3.length]).toEqual([1, 1, 0]);
  });

  it('orders by seq: holds a message that jumped ahead until the gap fills, and acknowledges the seqs as ranges', async () => {
    const peer = await scriptedPeer({ afterLogin: [pushed(1), pushed(3), pushed(2), pushed(4)] });
    cim.redirectNextLogin(peer.endpoint);
    const messages: ChatMessage[] = [];
    const bob = await connect('bob', { gapTimeoutMs: 5_000, onMessage: (m) => messages.push(m) });
    await expect.poll(() => messages.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    await expect.poll(() => peer.received.filter((f) => f.cmd === Command.RECEIPT).flatMap((f) => f.batchReqMsg)).toEqual(['1-4']);
    expect(peer.received.filter((f) => f.cmd === Command.RECEIPT)[0]!.properties).toEqual({ [Prop.status]: 'delivered' });
    expect(peer.received.some((f) => f.cmd === Command.SYNC)).toBe(false);
    await bob.close();
  });

  it('asks for a SYNC when a seq gap does not fill in time, shows what it held, and what the SYNC brings', async () => {
    const peer = await scriptedPeer({ afterLogin: [pushed(1), pushed(3), pushed(4)], onSync: (_frame, reply) => reply(pushed(2, true)) });
    cim.redirectNextLogin(peer.endpoint);
    const messages: ChatMessage[] = [];
    await connect('bob', { gapTimeoutMs: 50, onMessage: (m) => messages.push(m) });
    await expect.poll(() => messages.map((m) => `${m.seq}${m.replay ? 'r' : ''}`)).toEqual(['1', '3', '4', '2r']);
    const syncs = peer.received.filter((f) => f.cmd === Command.SYNC);
    expect(syncs).toHaveLength(1);
    expect(syncs[0]!.properties[Prop.afterSeq]).toBe('1');
    const acked = (): number[] => peer.received.filter((f) => f.cmd === Command.RECEIPT).flatMap((f) => f.batchReqMsg.flatMap(expandRange));
    await expect.poll(() => [...new Set(acked())].sort()).toEqual([1, 2, 3, 4]);
  });

  it('retries a retryable MESSAGE_ACK failure with the same msgId and resolves once', async () => {
    const peer = await scriptedPeer({
      onMessage: (frame, reply, count) =>
        reply({
          cmd: Command.MESSAGE_ACK,
          properties:
            count < 3
              ? { [Prop.msgId]: frame.properties[Prop.msgId]!, [Prop.code]: Codes.STORE_UNAVAILABLE.code, [Prop.retryable]: '1' }
              : { [Prop.msgId]: frame.properties[Prop.msgId]!, [Prop.code]: Codes.SUCCESS.code, [Prop.seq]: '7', [Prop.online]: '1' },
        }),
    });
    cim.redirectNextLogin(peer.endpoint);
    const alice = await connect('alice', { sendRetryBackoff: { initialDelayMs: 5, maxDelayMs: 20 } });
    const result = await alice.sendPrivate(99, 'retry me', { msgId: 'fixed-id-1' });
    expect(result).toEqual({ msgId: 'fixed-id-1', seq: 7, online: true });
    const writes = peer.received.filter((f) => f.cmd === Command.MESSAGE);
    expect(writes.map((f) => f.properties[Prop.msgId])).toEqual(['fixed-id-1', 'fixed-id-1', 'fixed-id-1']);
    expect(alice.info().pendingSends).toBe(0);
  });

  it('reports a throwing message listener as an error event, keeps delivering and acknowledges both', async () => {
    const bob = await connect('bob');
    const errors: Error[] = [];
    const texts: string[] = [];
    bob.on('error', (err) => errors.push(err));
    bob.on('message', (m) => {
      if (m.text === 'boom') throw new Error('listener bug');
      texts.push(m.text);
    });
    const alice = await connect('alice');
    const { receipts } = collect(alice);
    await alice.sendPrivate(bob.userId!, 'boom');
    await alice.sendPrivate(bob.userId!, 'fine');
    await expect.poll(() => texts).toEqual(['fine']);
    expect(errors[0]).toMatchObject({ code: ClientErrorCode.LISTENER });
    await expect.poll(() => receipts.filter((r) => r.status === 'delivered').length).toBe(2);
  });

  it('hands messages pushed right after login to the onMessage option', async () => {
    const alice = await connect('alice');
    const messages: string[] = [];
    const bob = await connect('bob', { onMessage: (m) => messages.push(m.text) });
    await alice.sendPrivate(bob.userId!, 'early');
    await expect.poll(() => messages).toEqual(['early']);
  });
});

describe('CimClient reconnect', () => {
  it('reconnects after the connection drops: backoff, /offLine with its server, /login, LOGIN, then delivers again', async () => {
    const alice = await connect('alice');
    const bob = await connect('bob');
    const got = collect(bob);
    const server = cim.servers[cim.serverIndexOf(bob)]!;
    cim.routeCalls.length = 0;

    const ready = waitForState(bob, 'ready');
    server.dropAll();
    await ready;

    expect(got.states.map((s) => s.to)).toEqual(expect.arrayContaining(['reconnecting', 'connecting', 'ready']));
    const reconnecting = got.states.find((s) => s.to === 'reconnecting')!;
    expect(reconnecting).toMatchObject({ from: 'ready', attempt: 1 });
    expect(reconnecting.delayMs).toBeGreaterThanOrEqual(5);
    const bobCalls = cim.routeCalls.filter((c) => c.body['userId'] === bob.userId);
    // Password mode: a fresh access token first (refresh rotation), then the route cleanup and the login with it.
    expect(bobCalls.slice(0, 3).map((c) => c.path)).toEqual(['POST /refresh', 'POST /offLine', 'POST /login']);
    expect(bobCalls[2]!.body['token']).toBe(bobCalls[1]!.body['token']);
    expect(bobCalls[1]!.body['server']).toBe(`127.0.0.1:${server.tcp.port}:${server.ws.port}`);
    expect(bob.info().reconnects).toBe(1);

    if (alice.state !== 'ready') await waitForState(alice, 'ready');
    await alice.sendPrivate(bob.userId!, 'after reconnect');
    await expect.poll(() => got.messages.map((m) => m.text)).toEqual(['after reconnect']);
  });

  it('moves to another server on GOAWAY (graceful shutdown, 1001)', async () => {
    const bob = await connect('bob');
    const before = cim.serverIndexOf(bob);
    const { states } = collect(bob);
    const ready = waitForState(bob, 'ready');
    await cim.servers[before]!.stop();
    await ready;
    expect(states[0]).toMatchObject({ from: 'ready', to: 'reconnecting' });
    expect(states[0]!.reason).toMatch(/^server is going away/);
    expect(cim.serverIndexOf(bob)).not.toBe(before);
  });

  it('does not miss a GOAWAY that arrives together with the LOGIN_RESPONSE', async () => {
    const alice = await connect('alice');
    const peer = await scriptedPeer({
      afterLogin: [{ cmd: Command.GOAWAY, reqMsg: 'draining right after login', properties: { [Prop.code]: String(CloseCodes['moved-elsewhere'].code), [Prop.reconnect]: '1' } }],
    });
    cim.redirectNextLogin(peer.endpoint);
    const bob = new CimClient({ ...cim.clientOptions, userName: 'bob', ...FAST });
    onTestFinished(() => bob.close());
    const { states } = collect(bob);
    await bob.connect();
    await waitForState(bob, 'ready');
    expect(states.map((s) => s.to)).toEqual(['connecting', 'ready', 'reconnecting', 'connecting', 'ready']);
    expect(states[2]!.reason).toBe('server is going away: draining right after login');
    expect(cim.serverIndexOf(bob)).toBeGreaterThanOrEqual(0);
    await alice.sendPrivate(bob.userId!, 'found you');
  });

  it('stops on terminal advice (4100 replaced): closed, REPLACED error, no reconnect', async () => {
    const peer = await scriptedPeer({
      afterLogin: [{ cmd: Command.GOAWAY, reqMsg: 'replaced', properties: { [Prop.code]: String(CloseCodes.replaced.code), [Prop.reconnect]: '0' } }],
    });
    cim.redirectNextLogin(peer.endpoint);
    const bob = new CimClient({ ...cim.clientOptions, userName: 'bob', ...FAST });
    const errors: Error[] = [];
    bob.on('error', (err) => errors.push(err));
    const { states } = collect(bob);
    await bob.connect();
    await expect.poll(() => bob.state).toBe('closed');
    expect(states.map((s) => s.to)).toEqual(['connecting', 'ready', 'closed']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: ClientErrorCode.REPLACED, serverCode: '4100', retryable: false });
    await expect(bob.sendGroup('x')).rejects.toMatchObject({ code: ClientErrorCode.CLOSED });
    expect(cim.routeCalls.filter((c) => c.path === 'POST /login')).toHaveLength(1);
  });

  it('detects a half-open connection by the missing pong and reconnects', async () => {
    const bob = await connect('bob', { heartbeatIntervalMs: 50, pongTimeoutMs: 80, transport: 'tcp' });
    const server = cim.servers[cim.serverIndexOf(bob)]!;
    const { states } = collect(bob);
    const reconnecting = waitForState(bob, 'reconnecting');
    server.mute(true); // still connected, never answers
    await reconnecting;
    server.mute(false);
    await waitForState(bob, 'ready');
    expect(states[0]!.reason).toMatch(/no answer to PING within 80 ms/);
    expect(server.tcp.received.some((f) => f.cmd === Command.PING && f.reqMsg === 'ping' && f.requestId === bob.userId)).toBe(true);
  });

  it('keeps pinging while idle so a healthy connection stays up', async () => {
    const bob = await connect('bob', { heartbeatIntervalMs: 20, pongTimeoutMs: 200, transport: 'tcp' });
    const server = cim.servers[cim.serverIndexOf(bob)]!;
    await expect.poll(() => server.tcp.received.filter((f) => f.cmd === Command.PING).length).toBeGreaterThanOrEqual(3);
    expect(bob.state).toBe('ready');
  });

  it('queues sends made while reconnecting and resends unacknowledged ones with the same msgId', async () => {
    const alice = await connect('alice', { transport: 'tcp' });
    const bob = await connect('bob');
    const got = collect(bob);
    const aliceServer = cim.servers[cim.serverIndexOf(alice)]!;
    aliceServer.mute(true); // the next send is written but never reaches the server
    const unacked = alice.sendPrivate(bob.userId!, 'written before the drop', { msgId: 'before-drop' });
    await expect.poll(() => aliceServer.tcp.received.length).toBeGreaterThan(0);
    const reconnecting = waitForState(alice, 'reconnecting');
    aliceServer.mute(false);
    aliceServer.dropAll();
    await reconnecting;
    const queued = alice.sendGroup('sent while reconnecting');
    expect(alice.info().pendingSends).toBe(2);
    expect(await unacked).toMatchObject({ msgId: 'before-drop', seq: 1 });
    await queued;
    await expect.poll(() => got.messages.map((m) => m.text)).toEqual(['written before the drop', 'sent while reconnecting']);
  });

  it('gives up when retryStrategy says so: closed, error event, pending sends rejected', async () => {
    const bob = await connect('bob', { retryStrategy: (attempt) => (attempt <= 2 ? 5 : null) });
    const errors: Error[] = [];
    bob.on('error', (err) => errors.push(err));
    const closed = waitForState(bob, 'closed');
    for (const server of cim.servers) await server.kill();
    await closed;
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: ClientErrorCode.RECONNECT_GAVE_UP });
    expect(errors[0]!.message).toMatch(/after 2 attempts/);
    await expect(bob.sendGroup('x')).rejects.toMatchObject({ code: ClientErrorCode.CLOSED });
  });
});

describe('CimClient close', () => {
  it('logs out (naming its server), never reconnects and rejects later sends; other clients are unaffected', async () => {
    const alice = await connect('alice');
    const bob = await connect('bob');
    const { states } = collect(bob);
    const userId = bob.userId!;
    await bob.close();
    await bob.close(); // idempotent

    expect(bob.state).toBe('closed');
    expect(states.map((s) => s.to)).toEqual(['closed']);
    const offLine = cim.routeCalls.filter((c) => c.path === 'POST /offLine' && c.body['userId'] === userId);
    expect(offLine).toHaveLength(1);
    expect(offLine[0]!.body['server']).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    expect(await cim.onlineUserIds()).toEqual([alice.userId]);
    await expect(bob.sendGroup('late')).rejects.toMatchObject({ code: ClientErrorCode.CLOSED });

    // Bob's connection is gone and stays gone: a message to him is stored, not delivered; alice still works.
    await expect(alice.sendPrivate(userId, 'still there?')).resolves.toMatchObject({ online: false });
    expect(alice.state).toBe('ready');
    expect(states.map((s) => s.to)).toEqual(['closed']);
  });

  it('retries a logout the route could not do (5xx, as while its Redis is replaced): the user ends offline', async () => {
    let refused = 0;
    const offLines: number[] = [];
    // The route answers the first two /offLine with HTTP 503, then works.
    const flaky: typeof fetch = async (input, init) => {
      const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
      if (url.pathname === '/offLine') {
        offLines.push(Date.now());
        if (refused++ < 2) return new Response('{"code":"7200"}', { status: 503 });
      }
      return cim.fetch(input, init);
    };
    const carol = await connect('carol', { fetch: flaky });
    await carol.close();
    expect(offLines).toHaveLength(3);
    expect(offLines[1]! - offLines[0]!).toBeGreaterThanOrEqual(250); // LOGOUT_RETRY_DELAYS_MS: 300, then 1000
    expect(await cim.onlineUserIds()).not.toContain(carol.userId);
  });

  it('rejects sends still waiting for an ack when closed', async () => {
    const alice = await connect('alice');
    cim.servers[cim.serverIndexOf(alice)]!.mute(true);
    const pending = expect(alice.sendGroup('never acked')).rejects.toMatchObject({ code: ClientErrorCode.CLOSED });
    await alice.close();
    await pending;
  });

  it('can be closed while connecting', async () => {
    const client = new CimClient({ ...cim.clientOptions, userName: 'zed', ...FAST });
    const connecting = expect(client.connect()).rejects.toMatchObject({ code: ClientErrorCode.CLOSED });
    await client.close();
    await connecting;
    expect(client.state).toBe('closed');
  });
});

/** A private message from user 7 as a server pushes it, with inbox seq `seq`. */
function pushed(seq: number, replay = false): Partial<CimFrame> {
  return {
    cmd: Command.MESSAGE,
    reqMsg: `m${seq}`,
    properties: {
      [Prop.sendUserId]: '7',
      [Prop.sendUserName]: 'seven',
      [Prop.msgId]: `id-${seq}`,
      [Prop.chatType]: 'private',
      [Prop.seq]: String(seq),
      ...(replay ? { [Prop.replay]: '1' } : {}),
    },
  };
}

function expandRange(range: string): number[] {
  const [from, to = from] = range.split('-').map(Number);
  return Array.from({ length: to! - from! + 1 }, (_, i) => from! + i);
}
