import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { Command, Prop } from '../../../common/src/codec.ts';
import { startFakeCim, type FakeCim } from '../testing/fake-cim.ts';
import { CimClient, createClient, type ChatMessage, type ClientOptions, type ClientState, type StateChange } from './client.ts';
import { ClientErrorCode, CimClientError } from './errors.ts';

let cim: FakeCim;

beforeEach(async () => {
  cim = await startFakeCim({ servers: 2 });
});
afterEach(async () => {
  await cim.stop();
});

const FAST = { backoff: { initialDelayMs: 10, maxDelayMs: 40 }, requestTimeoutMs: 2_000 } as const;

async function connect(userName: string, extra: Partial<ClientOptions> = {}): Promise<CimClient> {
  const client = await createClient({ routeUrl: cim.routeUrl, userName, ...FAST, ...extra });
  onTestFinished(() => client.close());
  return client;
}

function collect(client: CimClient): { messages: ChatMessage[]; states: StateChange[] } {
  const messages: ChatMessage[] = [];
  const states: StateChange[] = [];
  client.on('message', (m) => messages.push(m));
  client.on('state', (s) => states.push(s));
  return { messages, states };
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

describe('CimClient connect', () => {
  it('registers by name, logs in with protocol 2 and the token, and becomes ready over WebSocket', async () => {
    const states: string[] = [];
    const client = new CimClient({ routeUrl: cim.routeUrl, userName: 'alice', ...FAST });
    client.on('state', (s) => states.push(`${s.from}->${s.to}`));
    onTestFinished(() => client.close());
    await client.connect();

    expect(states).toEqual(['idle->connecting', 'connecting->ready']);
    expect(client.userId).toBeGreaterThan(0);
    expect(cim.routeCalls.map((c) => c.path)).toEqual(['POST /registerAccount', 'POST /login']);
    expect(cim.routeCalls[1]!.body).toEqual({ userId: client.userId, userName: 'alice', protocol: 2 });
    const login = cim.servers.flatMap((s) => s.received).find((f) => f.cmd === Command.LOGIN_REQUEST)!;
    expect(login).toMatchObject({ requestId: client.userId, reqMsg: 'alice' });
    expect(login.properties).toEqual({ protocol: '2', token: cim.online.get(client.userId!)!.token });
    expect(client.info()).toMatchObject({ userName: 'alice', state: 'ready', transport: 'ws', reconnects: 0 });
    expect(client.info().remote).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
  });

  it('works over TCP with the varint32 framing', async () => {
    const alice = await connect('alice', { transport: 'tcp' });
    const bob = await connect('bob', { transport: 'tcp' });
    const got = collect(bob);
    await alice.sendPrivate(bob.userId!, 'over tcp');
    await expect.poll(() => got.messages.map((m) => m.text)).toEqual(['over tcp']);
    expect(alice.info().remote).toMatch(/^tcp:\/\//);
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
    const client = new CimClient({ routeUrl: cim.routeUrl, userName: 'not-dave', userId, ...FAST });
    const error = await client.connect().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(CimClientError);
    expect(error).toMatchObject({ code: ClientErrorCode.ROUTE_REJECTED, serverCode: '9100', retryable: false });
    expect(client.state).toBe('closed');
  });

  it('rejects when the server refuses LOGIN_REQUEST and logs out of the route', async () => {
    for (const server of cim.servers) server.loginCode = '9100';
    const error = await createClient({ routeUrl: cim.routeUrl, userName: 'erin', ...FAST }).catch((err: unknown) => err);
    expect(error).toMatchObject({ code: ClientErrorCode.LOGIN_REJECTED, serverCode: '9100' });
    expect(cim.routeCalls.at(-1)!.path).toBe('POST /offLine');
    expect(cim.online.size).toBe(0);
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
    await cim.servers[0]!.kill(); // the route still offers it once, like a crashed server before ZooKeeper notices
    let offered = false;
    cim.pickServer = (_userId, alive) => (offered ? alive[0]! : ((offered = true), 0));
    const bob = await connect('bob');
    expect(bob.state).toBe('ready');
    expect(cim.online.get(bob.userId!)!.server).toBe(1);
    expect(cim.routeCalls.map((c) => c.path)).toEqual(['POST /registerAccount', 'POST /login', 'POST /offLine', 'POST /login']);
  });

  it('validates its options', () => {
    expect(() => new CimClient({ routeUrl: cim.routeUrl, userName: '' })).toThrow(/userName/);
    expect(() => new CimClient({ routeUrl: 'ftp://x', userName: 'a' })).toThrow(/http/);
    expect(() => new CimClient({ routeUrl: cim.routeUrl, userName: 'a', userId: -1 })).toThrow(/userId/);
    expect(() => new CimClient({ routeUrl: cim.routeUrl, userName: 'a', register: false })).toThrow(/register/);
  });
});

describe('CimClient messaging', () => {
  it('delivers private and group messages between three clients in one process', async () => {
    const [alice, bob, carol] = await Promise.all([connect('alice'), connect('bob'), connect('carol')]);
    const inbox = { alice: collect(alice).messages, bob: collect(bob).messages, carol: collect(carol).messages };

    const sent = await alice.sendPrivate(bob.userId!, 'hi bob');
    expect(sent.msgId).toMatch(/[0-9a-f-]{36}/);
    await bob.sendPrivate('carol', 'hi carol, by name');
    await carol.sendGroup('hello all');

    await expect.poll(() => inbox.bob.map((m) => m.text)).toEqual(['hi bob', 'hello all']);
    await expect.poll(() => inbox.carol.map((m) => m.text)).toEqual(['hi carol, by name']);
    await expect.poll(() => inbox.alice.map((m) => m.text)).toEqual(['hello all']);
    expect(inbox.bob[0]).toMatchObject({ msgId: sent.msgId, from: { userId: alice.userId, userName: 'alice' }, to: bob.userId, offline: false });
    expect(inbox.bob[0]!.sentAt).toBeTypeOf('number');
  });

  it('reports an offline receiver instead of swallowing it', async () => {
    const alice = await connect('alice');
    await expect(alice.sendPrivate(424242, 'anyone?')).rejects.toMatchObject({ code: ClientErrorCode.RECEIVER_OFFLINE, serverCode: '7000' });
    await expect(alice.sendPrivate('nobody', 'x')).rejects.toMatchObject({ code: ClientErrorCode.USER_NOT_FOUND });
    await expect(alice.sendGroup('')).rejects.toMatchObject({ code: ClientErrorCode.INVALID_ARGUMENT });
  });

  it('lists online users, and [] instead of CIM’s null when nobody is', async () => {
    const alice = await connect('alice');
    expect(await alice.onlineUsers()).toEqual([{ userId: alice.userId, userName: 'alice' }]);
    cim.online.clear();
    expect(await alice.onlineUsers()).toEqual([]);
  });

  it('splits batches, flags offline deliveries and drops duplicate msgIds', async () => {
    const bob = await connect('bob');
    const { messages } = collect(bob);
    const from = { [Prop.sendUserId]: '7', [Prop.sendUserName]: 'seven', [Prop.receiveUserId]: String(bob.userId) };
    cim.push(bob.userId!, { cmd: Command.OFFLINE, requestId: bob.userId!, batchReqMsg: ['one', 'two'], properties: from });
    cim.push(bob.userId!, { cmd: Command.MESSAGE, requestId: bob.userId!, reqMsg: 'three', properties: { ...from, msgId: 'm3' } });
    cim.push(bob.userId!, { cmd: Command.MESSAGE, requestId: bob.userId!, reqMsg: 'three again', properties: { ...from, msgId: 'm3' } });
    cim.push(bob.userId!, { cmd: Command.MESSAGE, requestId: bob.userId!, reqMsg: 'four', properties: from });
    await expect.poll(() => messages.map((m) => `${m.text}/${m.offline}`)).toEqual(['one/true', 'two/true', 'three/false', 'four/false']);
    expect(messages[0]!.from).toEqual({ userId: 7, userName: 'seven' });
  });

  it('reports a throwing message listener as an error event and keeps delivering', async () => {
    const bob = await connect('bob');
    const errors: Error[] = [];
    const texts: string[] = [];
    bob.on('error', (err) => errors.push(err));
    bob.on('message', (m) => {
      if (m.text === 'boom') throw new Error('listener bug');
      texts.push(m.text);
    });
    const alice = await connect('alice');
    await alice.sendPrivate(bob.userId!, 'boom');
    await alice.sendPrivate(bob.userId!, 'fine');
    await expect.poll(() => texts).toEqual(['fine']);
    expect(errors[0]).toMatchObject({ code: ClientErrorCode.LISTENER });
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
  it('reconnects after the connection drops: backoff, /offLine, /login, LOGIN, then delivers again', async () => {
    const alice = await connect('alice');
    const bob = await connect('bob');
    const got = collect(bob);
    const server = cim.servers[cim.online.get(bob.userId!)!.server]!;
    cim.routeCalls.length = 0;

    const ready = waitForState(bob, 'ready');
    server.dropAll();
    await ready;

    expect(got.states.map((s) => s.to)).toEqual(expect.arrayContaining(['reconnecting', 'connecting', 'ready']));
    const reconnecting = got.states.find((s) => s.to === 'reconnecting')!;
    expect(reconnecting).toMatchObject({ from: 'ready', attempt: 1 });
    expect(reconnecting.delayMs).toBeGreaterThanOrEqual(5);
    const bobCalls = cim.routeCalls.filter((c) => c.body['userId'] === bob.userId).map((c) => c.path);
    expect(bobCalls.slice(0, 2)).toEqual(['POST /offLine', 'POST /login']);
    expect(bob.info().reconnects).toBe(1);

    await waitUntilReady(alice);
    await alice.sendPrivate(bob.userId!, 'after reconnect');
    await expect.poll(() => got.messages.map((m) => m.text)).toContain('after reconnect');
  });

  it('moves to another server on GOAWAY', async () => {
    cim.pickServer = (_userId, alive) => alive[0]!;
    const bob = await connect('bob');
    expect(cim.online.get(bob.userId!)!.server).toBe(0);
    cim.pickServer = (_userId, alive) => alive.at(-1)!;
    const ready = waitForState(bob, 'ready');
    const { states } = collect(bob);
    cim.servers[0]!.goaway('draining');
    await ready;
    expect(states[0]).toMatchObject({ from: 'ready', to: 'reconnecting', reason: 'server is going away: draining' });
    expect(cim.online.get(bob.userId!)!.server).toBe(1);
  });

  it('does not miss a GOAWAY that arrives together with the LOGIN_RESPONSE', async () => {
    const alice = await connect('alice');
    cim.pickServer = (_userId, alive) => alive[0]!;
    cim.servers[0]!.goawayAfterLogin = true;
    const bob = new CimClient({ routeUrl: cim.routeUrl, userName: 'bob', ...FAST });
    onTestFinished(() => bob.close());
    const { states } = collect(bob);
    await bob.connect();
    cim.pickServer = (_userId, alive) => alive.at(-1)!;
    await waitForState(bob, 'ready');
    expect(states.map((s) => s.to)).toEqual(['connecting', 'ready', 'reconnecting', 'connecting', 'ready']);
    expect(states[2]!.reason).toBe('server is going away: draining right after login');
    expect(cim.online.get(bob.userId!)!.server).toBe(1);
    await alice.sendPrivate(bob.userId!, 'found you');
  });

  it('detects a half-open connection by the missing pong and reconnects elsewhere', async () => {
    cim.pickServer = (_userId, alive) => alive[0]!;
    const bob = await connect('bob', { heartbeatIntervalMs: 50, pongTimeoutMs: 80 });
    cim.pickServer = (_userId, alive) => alive.at(-1)!;
    const { states } = collect(bob);
    const ready = waitForState(bob, 'ready');
    cim.servers[0]!.muted = true; // still connected, never answers
    await ready;
    expect(states[0]!.reason).toMatch(/no answer to PING within 80 ms/);
    expect(cim.servers[0]!.received.some((f) => f.cmd === Command.PING && f.reqMsg === 'ping' && f.requestId === bob.userId)).toBe(true);
    expect(cim.online.get(bob.userId!)!.server).toBe(1);
  });

  it('keeps pinging while idle so a healthy connection stays up', async () => {
    const bob = await connect('bob', { heartbeatIntervalMs: 20, pongTimeoutMs: 200 });
    const server = cim.servers[cim.online.get(bob.userId!)!.server]!;
    await expect.poll(() => server.received.filter((f) => f.cmd === Command.PING).length).toBeGreaterThanOrEqual(3);
    expect(bob.state).toBe('ready');
  });

  it('queues sends made while reconnecting and resends unacknowledged ones after the reconnect', async () => {
    const alice = await connect('alice', { transport: 'tcp' });
    const bob = await connect('bob');
    const got = collect(bob);
    const aliceServer = cim.servers[cim.online.get(alice.userId!)!.server]!;
    aliceServer.muted = true; // the next send is written but never acknowledged
    const unacked = alice.sendPrivate(bob.userId!, 'written before the drop');
    await expect.poll(() => aliceServer.received.filter((f) => f.cmd === Command.MESSAGE).length).toBe(1);
    const reconnecting = waitForState(alice, 'reconnecting');
    aliceServer.muted = false;
    aliceServer.dropAll();
    await reconnecting;
    const queued = alice.sendGroup('sent while reconnecting');
    expect(alice.info().pendingSends).toBe(2);
    await Promise.all([unacked, queued]);
    await expect.poll(() => got.messages.map((m) => m.text)).toEqual(['written before the drop', 'sent while reconnecting']);
  });

  it('gives up when retryStrategy says so: closed, error event, pending sends rejected', async () => {
    const bob = await connect('bob', { retryStrategy: (attempt) => (attempt <= 2 ? 5 : null) });
    const errors: Error[] = [];
    bob.on('error', (err) => errors.push(err));
    for (const server of cim.servers) await server.kill();
    const closed = waitForState(bob, 'closed');
    await closed;
    expect(errors[0]).toMatchObject({ code: ClientErrorCode.RECONNECT_GAVE_UP });
    expect(errors[0]!.message).toMatch(/after 2 attempts/);
    await expect(bob.sendGroup('x')).rejects.toMatchObject({ code: ClientErrorCode.CLOSED });
  });
});

describe('CimClient close', () => {
  it('logs out, never reconnects and rejects later sends; other clients are unaffected', async () => {
    const alice = await connect('alice');
    const bob = await connect('bob');
    const { states } = collect(bob);
    const userId = bob.userId!;
    await bob.close();
    await bob.close(); // idempotent

    expect(bob.state).toBe('closed');
    expect(states.map((s) => s.to)).toEqual(['closed']);
    expect(cim.routeCalls.filter((c) => c.path === 'POST /offLine' && c.body['userId'] === userId)).toHaveLength(1);
    expect(cim.online.has(userId)).toBe(false);
    await expect(bob.sendGroup('late')).rejects.toMatchObject({ code: ClientErrorCode.CLOSED });

    // Bob's connection is gone and stays gone; alice still works.
    await expect(alice.sendPrivate(userId, 'still there?')).rejects.toMatchObject({ code: ClientErrorCode.RECEIVER_OFFLINE });
    expect(alice.state).toBe('ready');
    expect(states.map((s) => s.to)).toEqual(['closed']);
  });

  it('rejects sends still waiting for an ack when closed', async () => {
    const alice = await connect('alice');
    cim.servers[cim.online.get(alice.userId!)!.server]!.muted = true;
    const pending = expect(alice.sendGroup('never acked')).rejects.toMatchObject({ code: ClientErrorCode.CLOSED });
    await alice.close();
    await pending;
  });

  it('can be closed while connecting', async () => {
    const client = new CimClient({ routeUrl: cim.routeUrl, userName: 'zed', ...FAST });
    const connecting = expect(client.connect()).rejects.toMatchObject({ code: ClientErrorCode.CLOSED });
    await client.close();
    await connecting;
    expect(client.state).toBe('closed');
  });
});

async function waitUntilReady(client: CimClient): Promise<void> {
  if (client.state !== 'ready') await waitForState(client, 'ready');
}
