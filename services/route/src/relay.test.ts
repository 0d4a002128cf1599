/**
 * WsRelay against in-process WebSocket servers on 127.0.0.1: what the process-level test cannot steer
 * (WebSocket pings/pongs, text frames, the connection limit, an unreachable server, backpressure).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { waitUntil } from '../../common/src/infra/ports.ts';
import { silentLogger } from '../../common/src/log.ts';
import { serverInfo, type ServerInfo } from '../../common/src/server-address.ts';
import { createRelayMetrics, WsRelay, type RelayOptions } from './relay.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** A stand-in cim-server: a WebSocket endpoint at /ws whose connections the test drives. */
async function upstreamServer() {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, path: '/ws', perMessageDeflate: false });
  const sockets: WebSocket[] = [];
  const waiters = new Set<() => void>();
  wss.on('connection', (ws) => {
    sockets.push(ws);
    for (const w of [...waiters]) w();
  });
  const port = await listen(http);
  cleanups.push(async () => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    await new Promise((r) => http.close(r));
  });
  const nextSocket = (index: number) => waitUntil(`upstream connection #${index}`, () => sockets[index], 5_000, 5);
  return { port, info: serverInfo(`127.0.0.1:1:${port}`, { wsPath: '/ws', version: 'test', connections: 0, startedAt: 0 })!, nextSocket };
}

async function relayServer(servers: () => readonly ServerInfo[], options: Partial<RelayOptions> = {}) {
  const http = createServer((_req, res) => res.writeHead(404).end());
  const registry = new Registry();
  const relay = new WsRelay({ servers }, createRelayMetrics(registry), silentLogger, { maxConnections: 10, maxFrameBytes: 1 << 20, connectTimeoutMs: 2_000, ...options });
  relay.attach(http);
  const port = await listen(http);
  cleanups.push(async () => {
    relay.close();
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
  });
  const metric = async (name: string) => (await registry.getSingleMetric(name)!.get()).values;
  return { relay, port, metric };
}

async function open(url: string) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  cleanups.push(() => ws.terminate());
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  return { ws, closed };
}

const once = <T extends unknown[]>(ws: WebSocket, event: 'message' | 'ping' | 'pong'): Promise<T> => new Promise((resolve) => ws.once(event, (...args: unknown[]) => resolve(args as T)));

describe('WsRelay', () => {
  it('relays pings, pongs, text and binary messages unchanged, and the close in both directions', async () => {
    const up = await upstreamServer();
    const { port } = await relayServer(() => [up.info]);
    const client = await open(`ws://127.0.0.1:${port}/relay?server=${up.info.id}`);
    const server = await up.nextSocket(0);

    const serverPing = once<[Buffer]>(server, 'ping');
    const clientPong = once<[Buffer]>(client.ws, 'pong');
    client.ws.ping(Buffer.from('from-client'));
    expect((await serverPing)[0].toString()).toBe('from-client');
    expect((await clientPong)[0].toString()).toBe('from-client'); // the server's pong, relayed

    const clientPing = once<[Buffer]>(client.ws, 'ping');
    const serverPong = once<[Buffer]>(server, 'pong');
    server.ping(Buffer.from('from-server'));
    expect((await clientPing)[0].toString()).toBe('from-server');
    expect((await serverPong)[0].toString()).toBe('from-server');

    const atServer = once<[Buffer, boolean]>(server, 'message');
    client.ws.send('text frame');
    const [text, isBinary] = await atServer;
    expect([text.toString(), isBinary]).toEqual(['text frame', false]);
    const atClient = once<[Buffer, boolean]>(client.ws, 'message');
    server.send(Buffer.from([0, 1, 2, 255]));
    const [bytes, binary] = await atClient;
    expect([[...bytes], binary]).toEqual([[0, 1, 2, 255], true]);

    const serverClosed = new Promise<[number, string]>((resolve) => server.on('close', (code, reason) => resolve([code, reason.toString()])));
    server.close(4321, 'server says bye');
    expect(await client.closed).toEqual({ code: 4321, reason: 'server says bye' });
    expect(await serverClosed).toEqual([4321, 'server says bye']);
  });

  it('limits relayed connections (1013) and refuses an unreachable server (1014)', async () => {
    const up = await upstreamServer();
    const dead = serverInfo('127.0.0.1:1:1')!; // port 1: nothing listens there
    const { port, metric } = await relayServer(() => [up.info, dead], { maxConnections: 1 });
    const first = await open(`ws://127.0.0.1:${port}/relay?server=${up.info.id}`);
    await up.nextSocket(0);
    const second = await open(`ws://127.0.0.1:${port}/relay?server=${up.info.id}`);
    expect((await second.closed).code).toBe(1013);
    expect(await metric('cim_route_relay_connections')).toEqual([expect.objectContaining({ value: 1 })]);
    first.ws.close(1000);
    await first.closed;
    await waitUntil('the relay to release the slot', async () => ((await metric('cim_route_relay_connections'))[0]!.value === 0 ? true : undefined), 5_000, 5);
    const unreachable = await open(`ws://127.0.0.1:${port}/relay?server=${dead.id}`);
    const closed = await unreachable.closed;
    expect(closed.code).toBe(1014);
    expect(closed.reason).toContain('unreachable');
    const refused = Object.fromEntries((await metric('cim_route_relay_refused_total')).map((v) => [v.labels['reason'], v.value]));
    expect(refused).toEqual({ unknown_server: 0, full: 1, unreachable: 1 });
  });

  it('pauses the client while the server does not read, then delivers every message in order', async () => {
    const up = await upstreamServer();
    const { port, metric } = await relayServer(() => [up.info], { highWaterBytes: 64 * 1024 });
    const client = await open(`ws://127.0.0.1:${port}/relay?server=${up.info.id}`);
    const server = await up.nextSocket(0);
    server.pause(); // a server that stops reading
    const count = 640;
    const size = 64 * 1024; // 40 MiB in all: far more than the kernel buffers between the three sockets
    const received: Buffer[] = [];
    server.on('message', (data: Buffer) => received.push(data));
    for (let i = 0; i < count; i++) client.ws.send(Buffer.alloc(size, i % 251));
    const bytesIn = async () => (await metric('cim_route_relay_bytes_total')).find((v) => v.labels['direction'] === 'client_to_server')!.value;
    await waitUntil('the relay to pause the client', async () => ((await metric('cim_route_relay_paused_total')).some((v) => v.labels['direction'] === 'client_to_server' && v.value > 0) ? true : undefined), 10_000, 5);
    // "Stopped reading" has no event: wait until the relay's intake stays the same for 5 polls in a row.
    let last = -1;
    let still = 0;
    await waitUntil('the relay to stop reading from the client', async () => {
      const now = await bytesIn();
      still = now === last ? still + 1 : 0;
      last = now;
      return still >= 5 ? true : undefined;
    }, 15_000, 50);
    // Bounded by the high-water mark plus the kernel buffers towards the server, not the 40 MiB sent.
    expect(last).toBeLessThan((count * size) / 2);
    expect(client.ws.bufferedAmount).toBeGreaterThan(0); // the rest waits at the client
    expect(received).toHaveLength(0);

    server.resume();
    await waitUntil(`all ${count} messages at the server`, () => (received.length === count ? true : undefined), 30_000, 10);
    expect(received.every((m, i) => m.length === size && m[0] === i % 251 && m[size - 1] === i % 251)).toBe(true);
    expect(await bytesIn()).toBe(count * size);
  });
});
