/**
 * Chat through the route's WebSocket relay (GET /relay?server=id): what one `kubectl port-forward` of
 * the route gives a user whose machine cannot reach the servers' pod IPs. Real processes: redis-server,
 * ZooKeeper, two cim-servers, one cim-route. Every message is counted; a marker sent last proves that
 * nothing more (no duplicate) was still on its way when the counts are checked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createClient, type ChatMessage, type CimClient, type StateChange } from '../../services/client/src/index.ts';
import { Command, encodeMessage, PROTOCOL_VERSION } from '../../services/common/src/codec.ts';
import { waitUntil } from '../../services/common/src/infra/ports.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { routeApi, TEST_PASSWORD } from '../harness/route-api.ts';

const SECRET = 'route-relay-secret';
/** CIM's pong body, byte for byte (on TCP it follows the varint length prefix 08; README, compatibility table). */
const CIM_PONG = Buffer.from('0a04706f6e671802', 'hex');

let cluster: TestCluster;
const clients: CimClient[] = [];
const sockets: WebSocket[] = [];

beforeAll(async () => {
  cluster = await startCluster({ servers: 2, authSecret: SECRET });
});

afterAll(async () => {
  for (const ws of sockets) ws.terminate();
  await Promise.all(clients.map((c) => c.close()));
  await cluster?.stop();
});

interface Tracked {
  readonly client: CimClient;
  readonly inbox: ChatMessage[];
  readonly states: StateChange[];
  /** Resolves once the inbox holds a message matching `match`. */
  received(match: (m: ChatMessage) => boolean, what: string, timeoutMs?: number): Promise<ChatMessage>;
}

async function connectViaRoute(userName: string): Promise<Tracked> {
  const inbox: ChatMessage[] = [];
  const states: StateChange[] = [];
  const waiters = new Set<() => void>();
  const client = await createClient({
    routeUrl: cluster.routeUrl,
    userName,
    password: TEST_PASSWORD,
    via: 'route',
    onMessage: (m) => {
      inbox.push(m);
      for (const w of [...waiters]) w();
    },
    backoff: { initialDelayMs: 200, maxDelayMs: 2_000 },
  });
  client.on('state', (s) => states.push(s));
  clients.push(client);
  const received = (match: (m: ChatMessage) => boolean, what: string, timeoutMs = 15_000) =>
    new Promise<ChatMessage>((resolve, reject) => {
      const check = (): void => {
        const found = inbox.find(match);
        if (!found) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`${userName} did not receive ${what}; inbox: ${JSON.stringify(inbox.map((m) => m.text))}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return { client, inbox, states, received };
}

/** A raw WebSocket through the relay that records every binary message and the close. */
function rawRelay(serverId: string) {
  return rawWs(`${cluster.routeUrl.replace('http:', 'ws:')}/relay?server=${encodeURIComponent(serverId)}`);
}

/** The same, straight to a server (what the relay must be indistinguishable from). */
function rawDirect(i: number) {
  return rawWs(`ws://127.0.0.1:${cluster.servers[i]!.httpPort}/ws`);
}

async function rawWs(url: string) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  sockets.push(ws);
  const messages: Buffer[] = [];
  const waiters = new Set<() => void>();
  ws.on('message', (data: Buffer) => {
    messages.push(data);
    for (const w of [...waiters]) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const nextMessage = (index: number) =>
    new Promise<Buffer>((resolve, reject) => {
      const check = (): void => {
        if (messages.length <= index) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(messages[index]!);
      };
      const timer = setTimeout(() => reject(new Error(`no message #${index} through the relay`)), 10_000);
      waiters.add(check);
      check();
    });
  return { ws, messages, closed, nextMessage };
}

async function metric(url: string, pattern: RegExp): Promise<number> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const value = pattern.exec(text)?.[1];
  if (value === undefined) throw new Error(`metric ${pattern} not found`);
  return Number(value);
}

/** Polls a metric until `accept` holds: a relay's effect on a server is only visible there. */
function metricUntil(url: string, pattern: RegExp, accept: (v: number) => boolean, what: string): Promise<number> {
  return waitUntil(what, async () => {
    const v = await metric(url, pattern);
    return accept(v) ? v : undefined;
  }, 10_000);
}

const serverUrl = (i: number) => `http://127.0.0.1:${cluster.servers[i]!.httpPort}`;
const relayed = /^cim_route_relay_connections(?:\{[^}]*\})? (\d+)/m;

describe('WebSocket relay through cim-route', () => {
  it('carries private and group messages of two SDK clients, each exactly once', async () => {
    const alice = await connectViaRoute('relay-alice');
    const bob = await connectViaRoute('relay-bob');
    for (const t of [alice, bob]) expect(t.client.info().remote).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/relay\?server=127\.0\.0\.1%3A\d+%3A\d+$/);
    expect(await metric(cluster.routeUrl, relayed)).toBe(2);

    const N = 20;
    for (let i = 0; i < N; i++) {
      await alice.client.sendPrivate(bob.client.userId!, `a2b-${i}`);
      await bob.client.sendPrivate(alice.client.userId!, `b2a-${i}`);
      if (i % 2 === 0) await alice.client.sendGroup(`group-${i}`);
    }
    await alice.client.sendPrivate(bob.client.userId!, 'marker-b');
    await bob.client.sendPrivate(alice.client.userId!, 'marker-a');
    await bob.received((m) => m.text === 'marker-b', 'the marker');
    await alice.received((m) => m.text === 'marker-a', 'the marker');

    const texts = (t: Tracked, prefix: string) => t.inbox.filter((m) => m.text.startsWith(prefix)).map((m) => m.text);
    expect(texts(bob, 'a2b-')).toEqual(Array.from({ length: N }, (_, i) => `a2b-${i}`));
    expect(texts(alice, 'b2a-')).toEqual(Array.from({ length: N }, (_, i) => `b2a-${i}`));
    expect(texts(bob, 'group-')).toEqual(Array.from({ length: N / 2 }, (_, i) => `group-${i * 2}`));
    expect(texts(alice, 'group-')).toEqual([]); // a group message skips its sender
    expect(bob.inbox).toHaveLength(N + N / 2 + 1);
    expect(alice.inbox).toHaveLength(N + 1);
    expect(bob.inbox.every((m) => m.from.userId === alice.client.userId)).toBe(true);

    const toServer = await metric(cluster.routeUrl, /^cim_route_relay_bytes_total\{direction="client_to_server"[^}]*\} (\d+)/m);
    const toClient = await metric(cluster.routeUrl, /^cim_route_relay_bytes_total\{direction="server_to_client"[^}]*\} (\d+)/m);
    expect(toServer).toBeGreaterThan(0);
    expect(toClient).toBeGreaterThan(0);

    await Promise.all([alice.client.close(), bob.client.close()]);
    await metricUntil(cluster.routeUrl, relayed, (v) => v === 0, 'relayed connections after close');
  });

  it('relays frames byte for byte: a PING gets CIM\'s exact pong bytes', async () => {
    const [relay, direct] = [await rawRelay(cluster.servers[0]!.address), await rawDirect(0)];
    for (let i = 0; i < 3; i++) {
      for (const c of [relay, direct]) c.ws.send(encodeMessage({ cmd: Command.PING, requestId: 1, reqMsg: 'ping' }));
      expect(await relay.nextMessage(i)).toEqual(CIM_PONG);
      expect(await direct.nextMessage(i)).toEqual(CIM_PONG);
    }
    expect(relay.messages).toHaveLength(3);
    relay.ws.close(1000, 'done');
    direct.ws.close(1000, 'done');
    expect(await relay.closed).toEqual({ code: 1000, reason: 'done' });
    expect(await direct.closed).toEqual({ code: 1000, reason: 'done' });
  });

  it('refuses a server that is not registered, and any other path', async () => {
    const before = await metric(cluster.routeUrl, /^cim_route_relay_refused_total\{reason="unknown_server"[^}]*\} (\d+)/m);
    for (const id of ['127.0.0.1:1:2', 'example.com:80:80', 'not-an-id', '']) {
      const relay = await rawRelay(id);
      const closed = await relay.closed;
      expect(closed.code).toBe(1008);
      expect(closed.reason).toContain('is not a live cim-server');
      expect(relay.messages).toHaveLength(0);
    }
    expect(await metric(cluster.routeUrl, /^cim_route_relay_refused_total\{reason="unknown_server"[^}]*\} (\d+)/m)).toBe(before + 4);
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${cluster.routeUrl.replace('http:', 'ws:')}/elsewhere?server=${cluster.servers[0]!.address}`);
      ws.on('unexpected-response', (_req, res) => (resolve(res.statusCode ?? 0), ws.terminate()));
      ws.on('open', () => reject(new Error('opened a WebSocket on a path that is not /relay')));
      ws.on('error', () => undefined);
    });
    expect(status).toBe(404);
  });

  it('propagates a close by the server (code and reason) and a close by the client', async () => {
    const connections = /^cim_server_connections\{transport="ws"[^}]*\} (\d+)/m;
    const base = await metric(serverUrl(0), connections);
    // A LOGIN with a forged token: the server refuses it and closes with its own 4xxx code and reason,
    // which the relayed client must see exactly as a directly connected one does.
    const { dataBody } = await routeApi(cluster.routeUrl).register('relay-mallory');
    const forged = encodeMessage({ cmd: Command.LOGIN_REQUEST, requestId: dataBody.userId, reqMsg: 'relay-mallory', properties: { protocol: PROTOCOL_VERSION, token: 'forged' } });
    const direct = await rawDirect(0);
    direct.ws.send(forged);
    const directClose = await direct.closed;
    expect(directClose.code).toBeGreaterThanOrEqual(4000);
    expect(directClose.reason).not.toBe('');
    const refused = await rawRelay(cluster.servers[0]!.address);
    refused.ws.send(forged);
    expect(await refused.closed).toEqual(directClose);
    expect(refused.messages.map((m) => m.toString('hex'))).toEqual(direct.messages.map((m) => m.toString('hex')));
    await metricUntil(serverUrl(0), connections, (v) => v === base, 'server connections after the refused login');

    // The client closes: the server's side of the relay closes too.
    const quitting = await rawRelay(cluster.servers[0]!.address);
    await metricUntil(serverUrl(0), connections, (v) => v === base + 1, 'server connections with a relayed client');
    quitting.ws.close(1000, 'bye');
    expect(await quitting.closed).toEqual({ code: 1000, reason: 'bye' });
    await metricUntil(serverUrl(0), connections, (v) => v === base, 'server connections after the client closed');
    await metricUntil(cluster.routeUrl, relayed, (v) => v === 0, 'relayed connections');
  });

  it('a client survives a SIGKILL of its server: it reconnects through the relay to the other one', async () => {
    const carol = await connectViaRoute('relay-carol');
    const dave = await connectViaRoute('relay-dave');
    const victimPort = carol.client.info().server!.httpPort;
    const victim = cluster.servers.find((s) => s.httpPort === victimPort)!;
    await carol.client.sendPrivate(dave.client.userId!, 'before');
    await dave.received((m) => m.text === 'before', 'the message sent before the crash');

    const statesBefore = carol.states.length;
    await victim.kill('SIGKILL');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`carol did not reconnect; states: ${JSON.stringify(carol.states)}`)), 30_000);
      const check = (): void => {
        if (carol.states.slice(statesBefore).some((s) => s.to === 'ready')) (clearTimeout(timer), carol.client.off('state', check), resolve());
      };
      carol.client.on('state', check);
      check();
    });
    const info = carol.client.info();
    expect(info.server!.httpPort).not.toBe(victimPort);
    expect(info.remote).toContain('/relay?server=');
    expect(info.reconnects).toBe(1);
    // dave may have been on the victim too; either way both end up connected and chatting.
    if (dave.client.state !== 'ready') {
      await new Promise<void>((resolve) => {
        const onState = (s: StateChange): void => void (s.to === 'ready' && (dave.client.off('state', onState), resolve()));
        dave.client.on('state', onState);
      });
    }

    const M = 10;
    for (let i = 0; i < M; i++) {
      await carol.client.sendPrivate(dave.client.userId!, `after-${i}`);
      await dave.client.sendPrivate(carol.client.userId!, `back-${i}`);
    }
    await dave.received((m) => m.text === `after-${M - 1}`, 'the last message after the crash');
    await carol.received((m) => m.text === `back-${M - 1}`, 'the last reply after the crash');
    expect(dave.inbox.map((m) => m.text)).toEqual(['before', ...Array.from({ length: M }, (_, i) => `after-${i}`)]);
    expect(carol.inbox.map((m) => m.text)).toEqual(Array.from({ length: M }, (_, i) => `back-${i}`));
  });
});
