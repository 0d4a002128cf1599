/**
 * LinkPushTransport: the PushTransport contract against a real cim-server process (its /push/link), then what
 * only the link has — one frame per turn, order, a server restart, a refused secret, an older server without
 * the link (served over HTTP), a silent server — against the real server end (PushLinkServer) or a scripted one.
 */
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { silentLogger } from '../../services/common/src/log.ts';
import { LinkPushTransport } from '../../services/common/src/push-link.ts';
import type { PushRequest, PushResult } from '../../services/common/src/push.ts';
import { PushLinkServer } from '../../services/server/src/push-link.ts';
import { describePushTransportContract } from '../contracts/push-transport.ts';
import { realServerPushFixture } from '../harness/push-fixture.ts';

const SECRET = 'push-link-secret';

describePushTransportContract('push link to a real cim-server', () => realServerPushFixture(SECRET, (authSecret) => new LinkPushTransport({ authSecret })));

const servers: Server[] = [];
const transports: LinkPushTransport[] = [];
afterEach(async () => {
  transports.splice(0).forEach((t) => t.close());
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r())))));
});

/** An HTTP server on loopback whose /push/link is a real PushLinkServer over `handle`. */
async function linkServer(handle: (r: PushRequest) => PushResult, port = 0) {
  const link = new PushLinkServer({ authSecret: SECRET, log: silentLogger, maxPayload: 4 * 1024 * 1024, handlePush: (r) => handle(r) });
  const http = createServer((_req, res) => res.writeHead(404).end());
  http.on('upgrade', (req, socket, head) => {
    if (!link.handleUpgrade(req, socket, head)) socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
  });
  servers.push(http);
  await new Promise<void>((r) => http.listen(port, '127.0.0.1', () => r()));
  const bound = (http.address() as { port: number }).port;
  return { id: `127.0.0.1:1:${bound}`, port: bound, http, link };
}

const delivered = (r: PushRequest): PushResult => ({ delivered: r.receivers?.length ?? 0, offline: [] });

describe('LinkPushTransport', () => {
  it('sends the pushes of one turn in one frame, answers each in order, and reuses the link', async () => {
    const seen: string[] = [];
    const target = await linkServer((r) => (seen.push(r.msg ?? ''), delivered(r)));
    let upgrades = 0;
    target.http.on('upgrade', () => upgrades++);
    const t = new LinkPushTransport({ authSecret: SECRET });
    transports.push(t);
    const first = await Promise.all(Array.from({ length: 50 }, (_, i) => t.push(target.id, { receivers: Array.from({ length: i % 3 }, (_, k) => k + 1), msg: `m${i}`, properties: {} })));
    expect(first.map((r) => r.delivered)).toEqual(Array.from({ length: 50 }, (_, i) => i % 3));
    for (let i = 0; i < 5; i++) await t.push(target.id, { msg: `n${i}`, properties: {} });
    expect(seen).toEqual([...Array.from({ length: 50 }, (_, i) => `m${i}`), 'n0', 'n1', 'n2', 'n3', 'n4']);
    expect(upgrades).toBe(1);
  });

  it('cuts a turn of big pushes into frames a server accepts, keeping their order', async () => {
    const seen: string[] = [];
    const target = await linkServer((r) => (seen.push(r.msg!.slice(0, 4)), delivered(r)));
    const t = new LinkPushTransport({ authSecret: SECRET });
    transports.push(t);
    const big = 'x'.repeat(700 * 1024);
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => t.push(target.id, { receivers: [1], msg: `p${i}:${big}`, properties: {} })));
    expect(results.map((r) => r.delivered)).toEqual(Array(8).fill(1));
    expect(seen).toEqual(Array.from({ length: 8 }, (_, i) => `p${i}:x`));
  });

  it('fails what is on the wire when the server goes away, and reconnects for the next push', async () => {
    let target = await linkServer(delivered);
    const t = new LinkPushTransport({ authSecret: SECRET, timeoutMs: 2000 });
    transports.push(t);
    expect((await t.push(target.id, { receivers: [1], msg: 'before', properties: {} })).delivered).toBe(1);
    const port = target.port;
    target.link.close();
    await new Promise<void>((r) => (target.http.closeAllConnections(), target.http.close(() => r())));
    servers.splice(servers.indexOf(target.http), 1);
    await expect(t.push(target.id, { receivers: [1], msg: 'nobody there', properties: {} })).rejects.toThrow(/push to 127\.0\.0\.1:1:\d+ failed/);
    target = await linkServer(delivered, port);
    expect((await t.push(target.id, { receivers: [1, 2], msg: 'after', properties: {} })).delivered).toBe(2);
  });

  it('is refused without the secret; serves a server without the link over HTTP; rejects a silent one in time', async () => {
    const target = await linkServer(delivered);
    const wrong = new LinkPushTransport({ authSecret: 'not-the-secret' });
    transports.push(wrong);
    await expect(wrong.push(target.id, { msg: 'x', properties: {} })).rejects.toThrow(/refused: HTTP 403/);

    // An older server: 404 on the upgrade, /push/batch over HTTP.
    const batches: PushRequest[][] = [];
    const older = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        const { pushes } = JSON.parse(raw) as { pushes: PushRequest[] };
        batches.push(pushes);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ code: '9000', message: 'Success', reqNo: null, dataBody: { results: pushes.map(delivered) } }));
      });
    });
    older.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'));
    servers.push(older);
    await new Promise<void>((r) => older.listen(0, '127.0.0.1', () => r()));
    const olderId = `127.0.0.1:1:${(older.address() as { port: number }).port}`;
    const t = new LinkPushTransport({ authSecret: SECRET });
    transports.push(t);
    const viaHttp = await Promise.all([t.push(olderId, { receivers: [1], msg: 'a', properties: {} }), t.push(olderId, { receivers: [1], msg: 'b', properties: {} })]);
    expect(viaHttp.map((r) => r.delivered)).toEqual([1, 1]);
    expect((await t.push(olderId, { receivers: [1], msg: 'c', properties: {} })).delivered).toBe(1);
    expect(batches.flat().map((p) => p.msg)).toEqual(['a', 'b', 'c']);

    // A link that never answers: rejected after the timeout.
    const silent = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((r) => silent.on('listening', () => r()));
    const silentId = `127.0.0.1:1:${(silent.address() as { port: number }).port}`;
    const quick = new LinkPushTransport({ authSecret: SECRET, timeoutMs: 300 });
    transports.push(quick);
    await expect(quick.push(silentId, { msg: 'x', properties: {} })).rejects.toThrow(/no answer within 300 ms/);
    await new Promise<void>((r) => silent.close(() => r()));
  });

  it('answers a malformed batch with an error for that batch and keeps serving', async () => {
    const target = await linkServer(delivered);
    const t = new LinkPushTransport({ authSecret: SECRET });
    transports.push(t);
    await expect(t.push(target.id, { msg: 'x', properties: {}, cmd: 'NOT-A-COMMAND' as 'MESSAGE' })).rejects.toThrow(/malformed push batch/);
    expect((await t.push(target.id, { receivers: [4], msg: 'fine', properties: {} })).delivered).toBe(1);
  });
});
