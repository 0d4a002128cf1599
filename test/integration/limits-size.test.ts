/**
 * One maximum message size (--max-message-bytes, default 2 MiB, UTF-8 bytes) on every path: exactly the
 * max passes on /p2pRoute, /groupRoute and in-band MESSAGE over TCP and WebSocket; max + 1 byte is refused
 * everywhere with 3000 and the same reason. Real processes with the default options.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command } from '../../services/common/src/codec.ts';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../../services/common/src/message-size.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { connectTcp, connectWs, type RawClient } from '../harness/raw-client.ts';
import { routeApi } from '../harness/route-api.ts';

const MAX = DEFAULT_MAX_MESSAGE_BYTES;
const REASON = `message is larger than ${MAX} bytes`;
// Two-byte characters: the limit is in bytes, not characters.
const exact = 'é'.repeat(MAX / 2);
const over = `${exact}x`;

let cluster: TestCluster;
let api: ReturnType<typeof routeApi>;
const clients: RawClient[] = [];

beforeAll(async () => {
  cluster = await startCluster({ servers: 1 });
  api = routeApi(cluster.routeUrl);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cluster?.stop();
});

async function online(name: string, kind: 'tcp' | 'ws'): Promise<{ userId: number; client: RawClient }> {
  const { userId } = (await api.register(name)).dataBody;
  const s = cluster.servers[0]!;
  const client = kind === 'tcp' ? await connectTcp('127.0.0.1', s.tcpPort) : await connectWs(`ws://127.0.0.1:${s.httpPort}/ws`);
  clients.push(client);
  client.login(userId, name, { protocol: '2' });
  expect((await client.next((f) => f.cmd === Command.LOGIN_RESPONSE)).properties['code']).toBe('9000');
  return { userId, client };
}

describe('the maximum message size', () => {
  it('is the same on every path: max passes, max + 1 gets 3000 with one reason', { timeout: 60_000 }, async () => {
    const receiver = await online('size-receiver', 'ws');
    const sender = await online('size-sender', 'tcp');
    const wsSender = await online('size-ws-sender', 'ws');
    const received = () => receiver.client.frames.filter((f) => f.cmd === Command.MESSAGE && f.reqMsg === exact).length;

    // Route paths.
    expect((await api.p2p(sender.userId, receiver.userId, exact)).code).toBe('9000');
    expect((await api.group(sender.userId, exact)).code).toBe('9000');
    for (const res of [await api.p2p(sender.userId, receiver.userId, over), await api.group(sender.userId, over)]) {
      expect(res).toEqual({ code: '3000', message: `invalid argument: ${REASON}`, reqNo: null, dataBody: null });
    }
    // In-band, TCP and WebSocket.
    for (const [i, s] of [sender, wsSender].entries()) {
      s.client.send({ cmd: Command.MESSAGE, requestId: s.userId, reqMsg: exact, properties: { msgId: `exact-${i}`, receiveUserId: String(receiver.userId) } });
      s.client.send({ cmd: Command.MESSAGE, requestId: s.userId, reqMsg: over, properties: { msgId: `over-${i}`, receiveUserId: String(receiver.userId) } });
      expect((await s.client.next((f) => f.cmd === Command.MESSAGE_ACK && f.properties['msgId'] === `exact-${i}`)).properties['code']).toBe('9000');
      expect((await s.client.next((f) => f.cmd === Command.MESSAGE_ACK && f.properties['msgId'] === `over-${i}`)).properties).toMatchObject({ code: '3000', retryable: '0', reason: REASON });
      expect(s.client.isOpen()).toBe(true);
    }
    // The receiver got every accepted maximum-size message (2 private via route and in-band x2, 1 group) and was not cut off.
    await expect.poll(received).toBe(4);
    expect(receiver.client.frames.some((f) => f.reqMsg === over)).toBe(false);
    expect(receiver.client.isOpen()).toBe(true);
  });
});
