/**
 * --allowed-origins: a browser page of another site cannot open a WebSocket to a server (403 at the
 * upgrade); a listed origin and clients that send no Origin (SDK, CLI, the route's relay) can.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../harness/cluster.ts';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster({ servers: 1, serverArgs: ['--allowed-origins', 'https://chat.example.com'] });
});

afterAll(async () => {
  await cluster?.stop();
});

/** Opens a WebSocket to the server's /ws with the given Origin; resolves with 'open' or the HTTP status. */
function upgrade(origin: string | undefined): Promise<'open' | number> {
  const server = cluster.servers[0]!;
  const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/ws`, origin === undefined ? {} : { origin });
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.close();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', (err) => reject(err));
  });
}

describe('WebSocket Origin check', () => {
  it('refuses pages of other sites and accepts the listed origin and clients without an Origin', async () => {
    expect(await upgrade('https://evil.example.net')).toBe(403);
    expect(await upgrade('https://chat.example.com')).toBe('open');
    expect(await upgrade('HTTPS://CHAT.EXAMPLE.COM')).toBe('open');
    expect(await upgrade(undefined)).toBe('open');
  });
});
