/**
 * Fuzzing a real cim-server and cim-route (fast-check, bounded runs): random and mutated frames into the
 * TCP framing and the WebSocket path, random JSON into every HTTP endpoint. No crash, no 5xx, and the
 * server still serves a normal client afterwards.
 */
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Command, encodeMessage, type CimFrame } from '../../services/common/src/codec.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { connectWs } from '../harness/raw-client.ts';
import { routeApi } from '../harness/route-api.ts';

const RUNS = 200;
let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster({ servers: 1, routeArgs: ['--register-rate-limit', '0', '--login-rate-limit', '0'] });
});
afterAll(async () => {
  await cluster?.stop();
});

const frames: Partial<CimFrame>[] = [
  { cmd: Command.LOGIN_REQUEST, requestId: 1, reqMsg: 'someone', properties: { protocol: '2' } },
  { cmd: Command.PING, requestId: 1, reqMsg: 'ping' },
  { cmd: Command.MESSAGE, requestId: 1, reqMsg: 'hello', properties: { msgId: 'm1', receiveUserId: '2' } },
  { cmd: Command.RECEIPT, requestId: 1, properties: { status: 'delivered' }, batchReqMsg: ['1-3'] },
  { cmd: Command.SYNC, requestId: 1, properties: { afterSeq: '0' } },
];
const valid = frames.map((f) => encodeMessage(f));

/** Random bytes, or a valid frame with bytes flipped, cut or appended. */
const payload = fc.oneof(
  fc.uint8Array({ maxLength: 512 }),
  fc.tuple(fc.constantFrom(...valid), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat(), fc.uint8Array({ maxLength: 16 })).map(([body, flips, cut, tail]) => {
    const b = Buffer.from(body);
    for (const [at, v] of flips) b[at % b.length] = v;
    return Buffer.concat([b.subarray(0, b.length - (cut % 4)), tail]);
  }),
);

/** The server is alive and serves a normal user end to end. */
async function serverServes(name: string): Promise<void> {
  const api = routeApi(cluster.routeUrl);
  const { userId } = (await api.register(name)).dataBody;
  const s = cluster.servers[0]!;
  const c = await connectWs(`ws://127.0.0.1:${s.httpPort}/ws`);
  c.login(userId, name);
  expect((await c.next((f) => f.cmd === Command.LOGIN_RESPONSE)).properties['code']).toBe('9000');
  c.send({ cmd: Command.MESSAGE, requestId: userId, reqMsg: 'ok', properties: { msgId: 'fuzz-ok', receiveUserId: String(userId) } });
  expect((await c.next((f) => f.cmd === Command.MESSAGE_ACK)).properties['code']).toBe('9000');
  await c.close();
  expect(await Promise.race([s.process.exited.then(() => 'exited'), Promise.resolve('alive')])).toBe('alive');
}

describe('fuzzing', () => {
  it('TCP framing: random and mutated frames, raw or length-prefixed', { timeout: 60_000 }, async () => {
    const port = cluster.servers[0]!.tcpPort;
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(payload, fc.boolean(), async (bytes, prefixed) => {
        cases++;
        const socket = connect({ host: '127.0.0.1', port });
        socket.on('error', () => undefined);
        socket.resume();
        await new Promise<void>((r) => socket.once('connect', () => r()));
        const closed = new Promise<void>((r) => socket.once('close', () => r()));
        // Then a half-close: the server must end the connection (garbage, or a clean end of input).
        socket.end(prefixed ? Buffer.concat([Buffer.from([bytes.length & 0x7f]), bytes]) : bytes);
        await closed;
      }),
      { numRuns: RUNS },
    );
    expect(cases).toBe(RUNS);
    await serverServes('after-tcp-fuzz');
  });

  it('WebSocket: random and mutated binary and text messages', { timeout: 60_000 }, async () => {
    const url = `ws://127.0.0.1:${cluster.servers[0]!.httpPort}/ws`;
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(payload, { minLength: 1, maxLength: 4 }), fc.boolean(), async (messages, asText) => {
        cases++;
        const ws = new WebSocket(url, { perMessageDeflate: false });
        ws.on('error', () => undefined);
        const closed = new Promise<void>((r) => ws.once('close', () => r()));
        await new Promise<void>((r) => (ws.once('open', () => r()), ws.once('close', () => r())));
        for (const m of messages) if (ws.readyState === WebSocket.OPEN) ws.send(asText ? m.toString('latin1') : m, { binary: !asText });
        if (ws.readyState === WebSocket.OPEN) ws.close(1000);
        await closed;
      }),
      { numRuns: RUNS },
    );
    expect(cases).toBe(RUNS);
    await serverServes('after-ws-fuzz');
  });

  it('HTTP: random JSON into every route and server endpoint, never a 5xx', { timeout: 60_000 }, async () => {
    const s = cluster.servers[0]!;
    const endpoints = [
      ...['/registerAccount', '/login', '/offLine', '/p2pRoute', '/groupRoute', '/fetchOfflineMsgs'].map((p) => `${cluster.routeUrl}${p}`),
      ...['/sendMsg', '/push', '/push/batch'].map((p) => `http://127.0.0.1:${s.httpPort}${p}`),
    ];
    const statuses = new Map<number, number>();
    const field = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.integer(), fc.string({ maxLength: 40 }), fc.constant(null));
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      fc.record({ userId: field, userName: field, receiveUserId: field, msg: field, batchMsg: field, token: field, properties: field, receivers: field, pushes: field, protocol: field, server: field }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 200 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...endpoints), body, async (url, text) => {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        expect(res.status, `${url} ${text}`).toBeLessThan(500);
      }),
      { numRuns: RUNS * 2 },
    );
    console.log(`HTTP fuzz statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(RUNS * 2);
    await serverServes('after-http-fuzz');
  });
});
