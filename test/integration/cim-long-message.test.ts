/**
 * A 1 MiB private message through CIM's HTTP API on a `--auth cim` cluster whose maximum is configured to
 * exactly 1 MiB (--max-message-bytes 1048576 on route and server): it reaches CIM-protocol TCP clients (a
 * raw varint-frame client checked byte for byte, and our SDK with protocol 'cim') once; one byte more is
 * refused with the same 3000 and reason on /p2pRoute, /groupRoute and in-band. limits-size.test.ts checks
 * the default maximum on every path with protocol-2 receivers; this checks a configured one reaching
 * CIM's protocol. Counted: sent, acknowledged (9000), delivered, duplicates.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CimClient, type ChatMessage } from '../../services/client/src/sdk/client.ts';
import { Command, decodeMessage, encodeTcpFrame, type CimFrame } from '../../services/common/src/codec.ts';
import { FrameDecoder } from '../../services/common/src/framing.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { connectTcp, type RawClient } from '../harness/raw-client.ts';
import { routeApi } from '../harness/route-api.ts';

const MAX = 1_048_576;
const REASON = `message is larger than ${MAX} bytes`;
const ascii = 'a'.repeat(MAX - 10) + '0123456789';
// 4-, 3- and 2-byte characters (9 bytes a run) plus one 4-byte one: exactly MAX bytes of UTF-8.
const multi = '😀€é'.repeat((MAX - 4) / 9) + '😀';
const over = `${ascii}x`;

let cluster: TestCluster;
let api: ReturnType<typeof routeApi>;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  const limit = ['--max-message-bytes', String(MAX)];
  cluster = await startCluster({ servers: 1, auth: 'cim', serverArgs: limit, routeArgs: limit });
  api = routeApi(cluster.routeUrl);
}, 60_000);
afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await cluster?.stop();
});

/** CIM's Java client on the wire: varint frames, LOGIN_REQUEST without properties, no acks. Keeps every frame's body. */
async function cimTcpClient(userId: number, userName: string) {
  const s = cluster.servers[0]!;
  const socket: Socket = connect({ host: '127.0.0.1', port: s.tcpPort });
  const decoder = new FrameDecoder(4 * MAX);
  const got: { frame: CimFrame; body: Buffer }[] = [];
  const waiters = new Set<() => void>();
  socket.on('data', (chunk: Buffer) => {
    for (const body of decoder.push(chunk)) got.push({ frame: decodeMessage(body), body: Buffer.from(body) });
    for (const w of waiters) w();
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  // CIM's client pings every 10 s of write-idleness; the server drops a client 30 s after its last frame.
  const pinger = setInterval(() => socket.write(encodeTcpFrame({ cmd: Command.PING, requestId: userId, reqMsg: 'ping' })), 10_000);
  closers.push(async () => void (clearInterval(pinger), socket.destroy(), await closed));
  socket.write(encodeTcpFrame({ cmd: Command.LOGIN_REQUEST, requestId: userId, reqMsg: userName }));
  return {
    got,
    isOpen: () => !socket.destroyed,
    until: (what: string, done: () => boolean, timeoutMs = 20_000) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (!done()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => reject(new Error(`${userName}: timed out waiting for ${what}; got ${got.length} frames`)), timeoutMs);
        waiters.add(check);
        check();
      }),
  };
}

/** Texts of MESSAGE/OFFLINE frames, batches flattened (CIM's replay sends OFFLINE batches). */
const textsOf = (frames: readonly CimFrame[]): string[] => frames.filter((f) => f.cmd === Command.MESSAGE || f.cmd === Command.OFFLINE).flatMap((f) => (f.batchReqMsg.length > 0 ? f.batchReqMsg : [f.reqMsg]));
const count = (texts: readonly string[], text: string): number => texts.filter((t) => t === text).length;

describe('a 1 MiB message to CIM-protocol clients (--auth cim, --max-message-bytes 1048576)', () => {
  it('arrives byte-identical once via /p2pRoute; max + 1 byte is refused alike on every path', { timeout: 120_000 }, async () => {
    const sender = (await api.register('long-sender')).dataBody.userId;
    const rawId = (await api.register('long-raw')).dataBody.userId;
    const sdkId = (await api.register('long-sdk')).dataBody.userId;
    // One stored message each before they log in: its OFFLINE replay proves the server's login replay
    // has read the inbox, so nothing sent after it can come twice (live and replayed).
    expect((await api.p2p(sender, rawId, 'barrier-raw')).code).toBe('7000');
    expect((await api.p2p(sender, sdkId, 'barrier-sdk')).code).toBe('7000');

    const raw = await cimTcpClient(rawId, 'long-raw');
    const sdk = new CimClient({ routeUrl: cluster.routeUrl, userName: 'long-sdk', protocol: 'cim' });
    const sdkGot: ChatMessage[] = [];
    sdk.on('message', (m) => sdkGot.push(m));
    closers.push(() => sdk.close());
    await sdk.connect();
    expect(sdk.protocol).toBe('cim');
    await raw.until('the OFFLINE barrier', () => textsOf(raw.got.map((g) => g.frame)).includes('barrier-raw'));
    await expect.poll(() => sdkGot.map((m) => m.text), { timeout: 20_000 }).toContain('barrier-sdk');

    // Sent through /p2pRoute: 9000 = acknowledged and pushed live (7000 would mean stored for later).
    const sent: { to: number; text: string }[] = [];
    let acknowledged = 0;
    for (const to of [rawId, sdkId]) {
      for (const text of [ascii, multi]) {
        sent.push({ to, text });
        const res = await api.p2p(sender, to, text);
        expect(res).toEqual({ code: '9000', message: 'Success', reqNo: null, dataBody: null });
        acknowledged++;
      }
    }
    // Just over the configured maximum: the same refusal on both route paths ...
    const refusal = { code: '3000', message: `invalid argument: ${REASON}`, reqNo: null, dataBody: null };
    expect(await api.p2p(sender, rawId, over)).toEqual(refusal);
    expect(await api.group(sender, over)).toEqual(refusal);
    // ... and in-band, from a protocol-2 client on the same TCP port (CIM's clients never send in-band).
    const p2: RawClient = await connectTcp('127.0.0.1', cluster.servers[0]!.tcpPort);
    closers.push(() => p2.close());
    p2.login(sender, 'long-sender', { protocol: '2' });
    expect((await p2.next((f) => f.cmd === Command.LOGIN_RESPONSE)).properties['code']).toBe('9000');
    p2.send({ cmd: Command.MESSAGE, requestId: sender, reqMsg: over, properties: { msgId: 'over-1', receiveUserId: String(rawId) } });
    const ack = await p2.next((f) => f.cmd === Command.MESSAGE_ACK && f.properties['msgId'] === 'over-1');
    expect(ack.properties).toMatchObject({ code: '3000', retryable: '0', reason: REASON });
    expect(p2.isOpen()).toBe(true);

    // A small tail message after everything: pushes to one server are FIFO, so once it is in, any
    // duplicate or late copy of the big ones would be in too.
    expect((await api.p2p(sender, rawId, 'tail-raw')).code).toBe('9000');
    expect((await api.p2p(sender, sdkId, 'tail-sdk')).code).toBe('9000');
    await raw.until('the tail', () => textsOf(raw.got.map((g) => g.frame)).includes('tail-raw'));
    await expect.poll(() => sdkGot.map((m) => m.text), { timeout: 20_000 }).toContain('tail-sdk');

    const rawTexts = textsOf(raw.got.map((g) => g.frame));
    const sdkTexts = sdkGot.map((m) => m.text);
    expect(rawTexts).toEqual(['barrier-raw', ascii, multi, 'tail-raw']);
    expect(sdkTexts).toEqual(['barrier-sdk', ascii, multi, 'tail-sdk']);
    const delivered = sent.filter((s) => count(s.to === rawId ? rawTexts : sdkTexts, s.text) >= 1).length;
    const duplicates = sent.reduce((n, s) => n + Math.max(0, count(s.to === rawId ? rawTexts : sdkTexts, s.text) - 1), 0);
    expect({ sent: sent.length, acknowledged, delivered, duplicates }).toEqual({ sent: 4, acknowledged: 4, delivered: 4, duplicates: 0 });
    expect([...rawTexts, ...sdkTexts].some((t) => t.startsWith(ascii) && t.length > ascii.length)).toBe(false);

    // Byte for byte on the wire, as CIM's server writes a push: MESSAGE, requestId = receiver, the
    // sender in properties, reqMsg the exact UTF-8 bytes sent.
    for (const text of [ascii, multi]) {
      const hit = raw.got.filter((g) => g.frame.cmd === Command.MESSAGE && g.frame.reqMsg === text);
      expect(hit).toHaveLength(1);
      const { frame, body } = hit[0]!;
      expect(frame.requestId).toBe(rawId);
      expect(frame.properties).toMatchObject({ sendUserId: String(sender), sendUserName: 'long-sender', receiveUserId: String(rawId) });
      const bytes = Buffer.from(text, 'utf8');
      expect(bytes.length).toBe(MAX);
      expect(body.indexOf(bytes)).toBeGreaterThan(0);
    }
    expect(sdkGot.filter((m) => m.text === ascii || m.text === multi).map((m) => [m.chatType, m.from.userId, m.from.userName])).toEqual([
      ['private', sender, 'long-sender'],
      ['private', sender, 'long-sender'],
    ]);
    expect(raw.isOpen()).toBe(true);
    expect(sdk.info().transport).toBe('tcp');
  });
});
