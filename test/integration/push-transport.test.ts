/**
 * HttpPushTransport: the PushTransport contract against a real cim-server process, then what only HTTP has
 * (batching, keep-alive, refusals, timeouts) against a scripted HTTP server on loopback.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpPushTransport, type PushRequest } from '../../services/common/src/push.ts';
import { describePushTransportContract } from '../contracts/push-transport.ts';
import { realServerPushFixture } from '../harness/push-fixture.ts';

describePushTransportContract('HTTP to a real cim-server', () => realServerPushFixture('push-contract-secret', (authSecret) => new HttpPushTransport({ authSecret })));

let server: Server | undefined;
const transports: HttpPushTransport[] = [];
afterEach(async () => {
  transports.splice(0).forEach((t) => t.close());
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

async function fakeServer(handle: (body: { pushes: PushRequest[] }, req: IncomingMessage) => { status: number; body: unknown } | undefined) {
  const requests: { pushes: PushRequest[] }[] = [];
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const body = JSON.parse(raw) as { pushes: PushRequest[] };
      requests.push(body);
      const answer = handle(body, req);
      if (!answer) return; // never answer
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  const port = (server!.address() as { port: number }).port;
  return { id: `127.0.0.1:1:${port}`, requests };
}

const ok = (body: { pushes: PushRequest[] }) => ({
  status: 200,
  body: { code: '9000', message: 'Success', reqNo: null, dataBody: { results: body.pushes.map((p) => ({ delivered: p.receivers?.length ?? 0, offline: [] })) } },
});

describe('HttpPushTransport', () => {
  it('sends the pushes of one event-loop turn to a server in one request, in order', async () => {
    const target = await fakeServer(ok);
    const t = new HttpPushTransport({ authSecret: 's' });
    transports.push(t);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => t.push(target.id, { receivers: Array.from({ length: i % 3 }, (_, k) => k + 1), msg: `m${i}`, properties: {} })));
    expect(target.requests).toHaveLength(1);
    expect(target.requests[0]!.pushes.map((p) => p.msg)).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    expect(results.map((r) => r.delivered)).toEqual(Array.from({ length: 50 }, (_, i) => i % 3));
  });

  it('coalesces pushes issued while a batch is on the wire into the next batch', async () => {
    const target = await fakeServer(ok);
    const t = new HttpPushTransport();
    transports.push(t);
    const first = t.push(target.id, { msg: 'first', properties: {} });
    await new Promise((r) => setImmediate(r)); // the first batch is now in flight
    const rest = [t.push(target.id, { msg: 'a', properties: {} }), t.push(target.id, { msg: 'b', properties: {} })];
    await Promise.all([first, ...rest]);
    expect(target.requests.map((r) => r.pushes.map((p) => p.msg))).toEqual([['first'], ['a', 'b']]);
  });

  it('reuses one keep-alive connection for consecutive batches', async () => {
    const target = await fakeServer(ok);
    let connections = 0;
    server!.on('connection', () => connections++);
    const t = new HttpPushTransport();
    transports.push(t);
    for (let i = 0; i < 5; i++) await t.push(target.id, { msg: `n${i}`, properties: {} });
    expect(target.requests).toHaveLength(5);
    expect(connections).toBe(1);
  });

  it('rejects every push of a batch the server refuses, naming the server', async () => {
    const target = await fakeServer(() => ({ status: 403, body: { code: '9300' } }));
    const t = new HttpPushTransport();
    transports.push(t);
    const pushes = [t.push(target.id, { msg: 'x', properties: {} }), t.push(target.id, { msg: 'y', properties: {} })];
    for (const p of pushes) await expect(p).rejects.toThrow(`push to ${target.id} failed: HTTP 403`);
  });

  it('rejects when the server does not answer in time, and when nothing listens', async () => {
    const silent = await fakeServer(() => undefined);
    const t = new HttpPushTransport({ timeoutMs: 200 });
    transports.push(t);
    await expect(t.push(silent.id, { msg: 'x', properties: {} })).rejects.toThrow(/no answer within 200 ms/);
    await expect(t.push('127.0.0.1:1:1', { msg: 'x', properties: {} })).rejects.toThrow(/ECONNREFUSED/);
    await expect(t.push('not-an-address', { msg: 'x', properties: {} })).rejects.toThrow(/invalid server address/);
  });
});
