/**
 * transport-browser.ts (the web client's transport) against transport.ts: the same answers from the
 * pure helpers, and a real connection over Node's global WebSocket (the browser API) to a `ws` server:
 * frames both ways, text frames and oversize frames closing, a refused connect rejecting.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket as ServerSocket } from 'ws';
import { Command, decodeMessage, encodeMessage, type CimFrame } from '../../../common/src/codec.ts';
import * as browser from './transport-browser.ts';
import * as node from './transport.ts';

const endpoints: node.Endpoint[] = [
  { ip: '127.0.0.1', cimServerPort: 1, httpPort: 2, wsPath: '/ws' },
  { ip: '10.1.2.3', cimServerPort: 11211, httpPort: 8081, wsPath: 'ws' },
  { ip: '::1', cimServerPort: 3, httpPort: 4, wsPath: '/x' },
];
const hosts = ['localhost', 'a.localhost', '127.9.9.9', '::1', '[::1]', '::ffff:127.0.0.1', '128.0.0.1', '1270.0.0.1', '10.0.0.1', 'example.com', '127.0.0'];

describe('transport-browser helpers', () => {
  it('answer as transport.ts does', () => {
    for (const h of hosts) expect(browser.isLoopbackHost(h), h).toBe(node.isLoopbackHost(h));
    for (const e of endpoints) {
      for (const kind of ['ws', 'tcp'] as const) expect(browser.endpointUrl(kind, e)).toBe(node.endpointUrl(kind, e));
      for (const route of ['http://127.0.0.1:8083', 'https://chat.example.com/base/', 'http://10.0.0.9']) {
        expect(browser.relayUrl(route, e)).toBe(node.relayUrl(route, e));
        for (const via of node.VIAS) expect(browser.usesRelay(via, route, e)).toBe(node.usesRelay(via, route, e));
      }
    }
    for (const via of [undefined, 'auto', 'direct', 'route', 'nope', 3]) {
      for (const kind of ['ws', 'tcp'] as const) {
        const a = (() => { try { return browser.checkVia(via, kind); } catch (err) { return (err as Error).message; } })();
        const b = (() => { try { return node.checkVia(via, kind); } catch (err) { return (err as Error).message; } })();
        expect(a).toBe(b);
      }
    }
  });
});

describe('transport-browser connection (global WebSocket)', () => {
  let wss: WebSocketServer | undefined;
  afterEach(async () => {
    for (const c of wss?.clients ?? []) c.terminate();
    await new Promise((r) => wss?.close(r) ?? r(undefined));
    wss = undefined;
  });

  async function server(): Promise<{ endpoint: node.Endpoint; peer: Promise<ServerSocket> }> {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/ws' });
    await once(wss, 'listening');
    const port = (wss.address() as AddressInfo).port;
    const peer = once(wss, 'connection').then(([ws]) => ws as ServerSocket);
    return { endpoint: { ip: '127.0.0.1', cimServerPort: 1, httpPort: port, wsPath: '/ws' }, peer };
  }

  const options = (maxFrameBytes = 1024) => ({ timeoutMs: 2000, signal: new AbortController().signal, maxFrameBytes, via: 'direct' as const });

  it('moves frames both ways and reports the close once', async () => {
    const { endpoint, peer } = await server();
    const frames: CimFrame[] = [];
    const closes: string[] = [];
    const conn = await browser.openConnection('ws', endpoint, { onFrame: (f) => frames.push(f), onClose: (r) => closes.push(r) }, options());
    const ws = await peer;
    const got: CimFrame[] = [];
    ws.on('message', (data) => got.push(decodeMessage(data as Buffer)));
    for (let i = 0; i < 5; i++) expect(conn.send({ cmd: Command.MESSAGE, reqMsg: `c${i}` })).toBe(true);
    for (let i = 0; i < 5; i++) ws.send(encodeMessage({ cmd: Command.MESSAGE, reqMsg: `s${i}` }));
    await expect.poll(() => [got.length, frames.length]).toEqual([5, 5]);
    expect(got.map((f) => f.reqMsg)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
    expect(frames.map((f) => f.reqMsg)).toEqual(['s0', 's1', 's2', 's3', 's4']);
    ws.close(4000, 'bye');
    await expect.poll(() => closes).toEqual(['closed by server (4000 bye)']);
    expect(conn.send({ cmd: Command.PING })).toBe(false);
  });

  it('closes on a text frame and on a frame over maxFrameBytes', async () => {
    for (const [bad, reason] of [['text', /text frame/], [Buffer.alloc(200), /over 100/]] as const) {
      const { endpoint, peer } = await server();
      const closes: string[] = [];
      await browser.openConnection('ws', endpoint, { onFrame: () => undefined, onClose: (r) => closes.push(r) }, options(100));
      (await peer).send(bad);
      await expect.poll(() => closes.length).toBe(1);
      expect(closes[0]).toMatch(reason);
      await new Promise((r) => wss!.close(r));
    }
  });

  it('rejects a refused connect with CONNECT_FAILED and TCP at once', async () => {
    const { endpoint } = await server();
    await new Promise((r) => wss!.close(r));
    for (const c of wss!.clients) c.terminate();
    await expect(browser.openConnection('ws', { ...endpoint, wsPath: '/nothing' }, { onFrame: () => undefined, onClose: () => undefined }, options())).rejects.toMatchObject({ code: 'CIM_ERR_CLIENT_CONNECT_FAILED' });
    await expect(browser.openConnection('tcp', endpoint, { onFrame: () => undefined, onClose: () => undefined }, options())).rejects.toThrow(/no TCP/);
  });
});
