/**
 * `cim chat --protocol cim` (and the SDK's 'auto') against a scripted CIM deployment (test/harness/cim-fake.ts):
 * CIM's exact login and ping bytes (reference §2.2 vectors), no reply to the login, the ping cadence, sends
 * over /p2pRoute and /groupRoute (never an in-band MESSAGE), MESSAGE and OFFLINE frames received and counted,
 * and CIM's reconnect flow (/offLine, then /login, then a new LOGIN_REQUEST).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command } from '../../services/common/src/codec.ts';
import { CimClient } from '../../services/client/src/sdk/client.ts';
import { startChatProcess } from '../harness/cim-chat-process.ts';
import { startFakeCim, type FakeCim } from '../harness/cim-fake.ts';

// Reference §2.2: zhangsan = 1547028929407.
const ZHANGSAN = 1547028929407;
const LISI = { userId: 1547028929408, userName: 'lisi' };
const LOGIN_HEX = '110a087a68616e6773616e10ffb6f090832d';
const PING_HEX = '0f0a0470696e6710ffb6f090832d1802';
const HEARTBEAT_S = 0.3;

let home: string;
beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'cim-protocol-it-'));
});
afterAll(async () => {
  if (home) await rm(home, { recursive: true, force: true });
});

describe('cim chat --protocol cim against CIM', () => {
  let fake: FakeCim;
  beforeAll(async () => {
    fake = await startFakeCim();
  });
  afterAll(async () => {
    await fake?.close();
  });

  it('speaks CIM byte for byte: login without reply, pings, HTTP sends, MESSAGE/OFFLINE, reconnect', async () => {
    fake.accounts.set('zhangsan', ZHANGSAN);
    fake.accounts.set(LISI.userName, LISI.userId);
    fake.offline.set(ZHANGSAN, { texts: ['offline-1', 'offline-2'], from: LISI });
    const chat = startChatProcess(['--route', fake.routeUrl, '--user', 'zhangsan', '--protocol', 'cim', '--json', '--heartbeat', String(HEARTBEAT_S), '--history-dir', home], home);
    const ofConnection = (n: number) => fake.frames.filter((f) => f.connection === n);

    // Logged in although the server never answered the LOGIN_REQUEST.
    await chat.stderr.waitFor(/\* logged in as zhangsan \(userId 1547028929407\) via tcp:\/\/127\.0\.0\.1:\d+ \(CIM's protocol\)/, 15_000);
    await fake.until('the login, then 5 pings', () => ofConnection(1).length >= 6);
    const first = ofConnection(1);
    expect(first[0]!.hex).toBe(LOGIN_HEX);
    for (const ping of first.slice(1, 6)) expect(ping.hex).toBe(PING_HEX);
    // The first PING follows the login at once (its pong starts the offline fetch), then one per heartbeat.
    const gaps = first.slice(2, 6).map((f, i) => f.at - first[i + 1]!.at);
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(HEARTBEAT_S * 1000 - 30);
      expect(gap).toBeLessThan(HEARTBEAT_S * 1000 + 700);
    }
    expect(fake.calls.slice(0, 3).map((c) => [c.path, c.body])).toEqual([
      ['/registerAccount', { userName: 'zhangsan' }],
      ['/login', { userId: ZHANGSAN, userName: 'zhangsan' }],
      ['/fetchOfflineMsgs', { receiveUserId: ZHANGSAN }],
    ]);

    // The OFFLINE batch from /fetchOfflineMsgs, then 3 live MESSAGE pushes.
    await chat.stdout.waitFor('offline-2', 10_000);
    for (let i = 1; i <= 3; i++) expect(fake.push(ZHANGSAN, `live-${i}`, LISI)).toBe(true);
    await chat.stdout.waitFor('live-3', 10_000);

    // Sends go over HTTP, in CIM's bodies; CIM's `:delay MESSAGE SECONDS` order works.
    chat.type(`${LISI.userId};;hi there lisi`);
    chat.type('hello everyone');
    chat.type(':delay bye 0.2');
    await fake.until('3 sends', () => fake.calls.filter((c) => c.path === '/p2pRoute' || c.path === '/groupRoute').length === 3);
    expect(fake.calls.filter((c) => c.path === '/p2pRoute' || c.path === '/groupRoute').map((c) => [c.path, c.body])).toEqual([
      ['/p2pRoute', { userId: ZHANGSAN, receiveUserId: LISI.userId, msg: 'hi there lisi' }],
      ['/groupRoute', { userId: ZHANGSAN, msg: 'hello everyone' }],
      ['/groupRoute', { userId: ZHANGSAN, msg: 'bye' }],
    ]);
    await chat.stderr.waitFor('#1547028929408 is offline', 5_000); // 7000: CIM stored it

    // CIM's reconnect: /offLine {userId, msg}, then /login, then a new connection with the same LOGIN bytes.
    const callsBefore = fake.calls.length;
    fake.dropConnections();
    await fake.until('the login on a second connection', () => ofConnection(2).length >= 1, 15_000);
    expect(ofConnection(2)[0]!.hex).toBe(LOGIN_HEX);
    await fake.until('the offline fetch after the reconnect', () => fake.calls.slice(callsBefore).some((c) => c.path === '/fetchOfflineMsgs'));
    expect(fake.calls.slice(callsBefore).map((c) => [c.path, c.body])).toEqual([
      ['/offLine', { userId: ZHANGSAN, msg: 'offLine' }],
      ['/login', { userId: ZHANGSAN, userName: 'zhangsan' }],
      ['/fetchOfflineMsgs', { receiveUserId: ZHANGSAN }],
    ]);
    await chat.stderr.waitFor('reconnected via tcp://', 5_000);
    expect(fake.push(ZHANGSAN, 'after-reconnect', LISI)).toBe(true);
    await chat.stdout.waitFor('after-reconnect', 10_000);

    // Every frame the client wrote was a LOGIN_REQUEST or a PING: never an in-band MESSAGE, ack or SYNC.
    expect(fake.frames.every((f) => f.frame.cmd === Command.LOGIN_REQUEST || f.frame.cmd === Command.PING)).toBe(true);
    expect(fake.frames.filter((f) => f.frame.cmd === Command.LOGIN_REQUEST)).toHaveLength(2);

    chat.type(':q!');
    expect(await chat.exited).toBe(0);
    const received = chat.messages();
    expect(received.map((m) => m.text)).toEqual(['offline-1', 'offline-2', 'live-1', 'live-2', 'live-3', 'after-reconnect']);
    expect(received.every((m) => m.from.userId === LISI.userId && m.from.userName === 'lisi')).toBe(true);
    expect(received.filter((m) => m.offline)).toHaveLength(2);
    expect(fake.calls.filter((c) => c.path === '/offLine')).toHaveLength(2); // before the reconnect, at :q!
  }, 60_000);

  it("picks CIM's protocol by itself ('auto') when the route's /login answer has no protocol-2 fields", async () => {
    fake.accounts.set('wangwu', 1547028929500);
    const before = fake.calls.length;
    const framesBefore = fake.frames.length;
    const client = new CimClient({ routeUrl: fake.routeUrl, userName: 'wangwu', heartbeatIntervalMs: 60_000 });
    try {
      await client.connect();
      expect(client.protocol).toBe('cim');
      expect(client.info().transport).toBe('tcp');
      await fake.until('the login frame', () => fake.frames.length > framesBefore);
      expect(fake.frames[framesBefore]!.frame).toMatchObject({ cmd: Command.LOGIN_REQUEST, requestId: 1547028929500, reqMsg: 'wangwu', properties: {} });
      const logins = fake.calls.slice(before).filter((c) => c.path === '/login');
      expect(logins.map((c) => c.body)).toEqual([{ userId: 1547028929500, userName: 'wangwu', protocol: 2 }]);
      expect(await client.sendGroup('auto says hi')).toMatchObject({ msgId: expect.any(String) });
      expect(fake.calls.at(-1)).toMatchObject({ path: '/groupRoute', body: { userId: 1547028929500, msg: 'auto says hi' } });
    } finally {
      await client.close();
    }
  });
});
