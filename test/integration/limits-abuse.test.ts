/**
 * Abuse from one address against real processes: a PING flood does not slow another user's login,
 * connections per address are capped at accept (TCP and WebSocket share the count), and registrations
 * and logins per address get HTTP 429 with 7400 past their limit.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Command, encodeTcpFrame } from '../../services/common/src/codec.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { connectTcp, connectWs, type RawClient } from '../harness/raw-client.ts';
import { routeApi } from '../harness/route-api.ts';

const LOGIN_BOUND_MS = 1000;
const PER_ADDRESS = 20;
const REGISTER_LIMIT = 10;

let cluster: TestCluster;
let api: ReturnType<typeof routeApi>;
const opened: Array<{ close(): unknown }> = [];

afterAll(async () => {
  for (const c of opened) c.close();
});

/** A cluster per describe: the PING flood runs with default limits, the caps with small ones. */
function useCluster(options: Parameters<typeof startCluster>[0]): void {
  beforeAll(async () => {
    cluster = await startCluster(options);
    api = routeApi(cluster.routeUrl);
  });
  afterAll(async () => {
    await cluster?.stop();
  });
}

/** register + /login + WebSocket + LOGIN_REQUEST until LOGIN_RESPONSE 9000, in ms. */
async function timedLogin(name: string): Promise<number> {
  const t0 = performance.now();
  const { userId } = (await api.register(name)).dataBody;
  const login = await api.login(userId, name, 2);
  expect(login.code).toBe('9000');
  const c = await connectWs(`ws://${login.dataBody!.ip}:${login.dataBody!.httpPort}${login.dataBody!.wsPath}`);
  c.login(userId, name);
  expect((await c.next((f) => f.cmd === Command.LOGIN_RESPONSE)).properties['code']).toBe('9000');
  const ms = performance.now() - t0;
  await c.close();
  return ms;
}

describe('a PING flood from one client', () => {
  useCluster({ servers: 1 });

  it('a PING flood does not slow another user\'s login', async () => {
    const server = cluster.servers[0]!;
    const ping = encodeTcpFrame({ cmd: Command.PING, requestId: 1, reqMsg: 'ping' });
    const burst = Buffer.concat(Array.from({ length: 512 }, () => ping));
    let stop = false;
    const counts = { connections: 0, sentPings: 0, closedByServer: 0 };
    let cutOff!: () => void;
    const firstCutOff = new Promise<void>((r) => (cutOff = r));
    // The flooder reconnects whenever it is cut off, for as long as the logins run.
    const flooding = (async () => {
      while (!stop) {
        const socket: Socket = connect({ host: '127.0.0.1', port: server.tcpPort });
        socket.on('error', () => undefined);
        socket.resume(); // reads (and drops) pongs and GOAWAY
        const closed = new Promise<void>((r) => socket.once('close', () => r()));
        counts.connections++;
        await new Promise<void>((r) => socket.once('connect', () => r()).once('close', () => r()));
        while (!stop && !socket.destroyed && socket.writable) {
          counts.sentPings += 512;
          if (!socket.write(burst)) await new Promise<void>((r) => (socket.once('drain', r), socket.once('close', r)));
        }
        if (!stop) (counts.closedByServer++, cutOff());
        socket.destroy();
        await closed;
      }
    })();
    const times: number[] = [];
    try {
      for (let i = 0; i < 8; i++) times.push(await timedLogin(`pinged-${i}`));
      await firstCutOff; // the server closes a flooder (4029) instead of answering it forever
    } finally {
      stop = true;
      await flooding;
    }
    console.log(`ping flood: ${JSON.stringify(counts)}; logins ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
    expect(counts.sentPings).toBeGreaterThan(10_000);
    expect(counts.closedByServer).toBeGreaterThanOrEqual(1);
    expect(Math.max(...times)).toBeLessThan(LOGIN_BOUND_MS);
  });

});

describe('limits per address', () => {
  useCluster({
    servers: 1,
    serverArgs: ['--max-connections-per-address', String(PER_ADDRESS)],
    routeArgs: ['--register-rate-limit', String(REGISTER_LIMIT), '--login-rate-limit', '30'],
  });

  it('caps connections per address at accept, TCP and WebSocket together', async () => {
    const server = cluster.servers[0]!;
    /** A connection counts as accepted when the server answers a PING on it (refused ones are closed unanswered). */
    const tryTcp = async (): Promise<RawClient | undefined> => {
      const c = await connectTcp('127.0.0.1', server.tcpPort);
      opened.push(c);
      c.ping(1);
      const outcome = await Promise.race([c.next((f) => f.cmd === Command.PING).then(() => 'pong'), c.closed.then(() => 'closed')]);
      return outcome === 'pong' ? c : undefined;
    };
    const tcp: RawClient[] = [];
    let refusedTcp = 0;
    for (let i = 0; i < PER_ADDRESS + 5; i++) {
      const c = await tryTcp();
      if (c) tcp.push(c);
      else refusedTcp++;
    }
    expect([tcp.length, refusedTcp]).toEqual([PER_ADDRESS, 5]);
    // The WebSocket upgrade from the same address is refused with HTTP 429.
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/ws`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => (resolve(101), ws.terminate()));
      ws.on('error', () => undefined);
    });
    expect(status).toBe(429);
    // A closed connection frees its slot.
    await tcp.pop()!.close();
    await expect.poll(async () => {
      const c = await tryTcp();
      if (c) tcp.push(c);
      return c !== undefined;
    }).toBe(true);
    await Promise.all(tcp.map((c) => c.close()));
  });

  it('answers registrations and logins past the per-address limit with HTTP 429 and 7400', async () => {
    const statuses: string[] = [];
    for (let i = 0; i < REGISTER_LIMIT + 5; i++) {
      const res = await fetch(`${cluster.routeUrl}/registerAccount`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userName: `reg-${i}` }) });
      const body = (await res.json()) as { code: string; reqNo: unknown; dataBody: unknown };
      statuses.push(`${res.status} ${body.code}`);
      if (res.status === 429) expect(Object.keys(body).sort()).toEqual(['code', 'dataBody', 'message', 'reqNo']);
    }
    const ok = statuses.filter((s) => s === '200 9000').length;
    const limited = statuses.filter((s) => s === '429 7400').length;
    expect(ok + limited).toBe(statuses.length);
    expect(ok).toBe(REGISTER_LIMIT);
    expect(limited).toBe(5);
    expect(statuses.slice(-5)).toEqual(Array(5).fill('429 7400'));
    // Logins have their own window (30 per minute here).
    const codes: string[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await fetch(`${cluster.routeUrl}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: 1, userName: 'nobody' }) });
      codes.push(`${res.status} ${((await res.json()) as { code: string }).code}`);
    }
    expect(codes.slice(0, 30)).toEqual(Array(30).fill('200 9100')); // unknown account, but answered
    const res = await fetch(`${cluster.routeUrl}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: 1, userName: 'nobody' }) });
    expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([429, '7400']);
  });
});
