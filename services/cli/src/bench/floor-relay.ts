/**
 * A relay of the bench's floor (floor.ts), forked by the parent and driven over IPC: WebSocket clients on
 * one side, the peer relay on a TCP link on the other, and per message the Redis round trips of the
 * acknowledged path (two stores before the ACK, one per RECEIPTS frame) as trivial scripts. It has none of
 * a cim-server's work (no codec, sessions, routes, limits, metrics): what it costs is the floor of the
 * machine for this message flow, with the same libraries (ws, ioredis corked per event-loop iteration).
 */
import { createServer, connect, type Socket } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { createRedisClient, type RedisClient } from '../../../common/src/redis-client.ts';
import { FloorFrame, helloFrame, idsFrame, lengthPrefixed, LinkDecoder, readReceipts, u32At } from './floor-frames.ts';

export type ToRelay = { type: 'start'; redisUrl: string } | { type: 'peer'; linkPort: number };
export type FromRelay = { type: 'ready'; wsPort: number; linkPort: number } | { type: 'linked' } | { type: 'failed'; error: string };

type StoreRedis = RedisClient & { floorStore(key: string): Promise<number> };

const send = (m: FromRelay) => process.send?.(m);
const users = new Map<number, WebSocket>();
let redis: StoreRedis | undefined;
let link: Socket | undefined;
let outgoing: Buffer[] = [];

/** Frames to the peer relay are written once per event-loop iteration, as the servers' push links do. */
function toPeer(frame: Buffer): void {
  if (outgoing.length === 0) setImmediate(flushLink);
  outgoing.push(...lengthPrefixed(frame));
}

function flushLink(): void {
  if (outgoing.length === 0 || !link) return;
  link.write(Buffer.concat(outgoing));
  outgoing = [];
}

const store = (kind: string, user: number) => redis!.floorStore(`cim:bench-floor:{${user}}:${kind}`);
const fail = (err: unknown) => process.stderr.write(`floor relay: ${(err as Error).message}\n`);

function fromClient(ws: WebSocket, data: Buffer): void {
  switch (data[0]) {
    case FloorFrame.HELLO:
      users.set(u32At(data, 1), ws);
      return void ws.send(helloFrame(u32At(data, 1)));
    case FloorFrame.MESSAGE: {
      const from = u32At(data, 1), to = u32At(data, 5);
      // the receiver's inbox and the conversation's history, then SENT to the sender and on to the receiver
      Promise.all([store('inbox', to), store('history', from)]).then(() => {
        ws.send(idsFrame(FloorFrame.ACK, from, to, u32At(data, 9)));
        data[0] = FloorFrame.DELIVER;
        toPeer(data);
      }, fail);
      return;
    }
    case FloorFrame.RECEIPTS: {
      const receiver = u32At(data, 1);
      const entries = readReceipts(data);
      // one store per RECEIPTS frame (the inbox entries leave), then a RECEIPT to every sender
      store('inbox', receiver).then(() => {
        for (const [from, seq] of entries) toPeer(idsFrame(FloorFrame.RECEIPT, from, receiver, seq));
      }, fail);
      return;
    }
  }
}

function fromPeer(frame: Buffer): void {
  const to = frame[0] === FloorFrame.DELIVER ? u32At(frame, 5) : u32At(frame, 1);
  users.get(to)?.send(frame);
}

async function start(redisUrl: string): Promise<void> {
  redis = createRedisClient(redisUrl) as StoreRedis;
  redis.defineCommand('floorStore', { numberOfKeys: 1, lua: "return redis.call('INCR', KEYS[1])" });
  await redis.ping();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 64 * 1024 });
  wss.on('connection', (ws) => {
    ws.on('message', (data: RawData) => {
      try {
        fromClient(ws, data as Buffer);
      } catch (err) {
        fail(err);
      }
    });
    ws.on('error', fail);
  });
  const linkServer = createServer((s) => {
    s.setNoDelay(true);
    const decoder = new LinkDecoder();
    s.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) fromPeer(f);
    });
    s.on('error', fail);
  });
  await Promise.all([
    new Promise((resolve) => wss.once('listening', resolve)),
    new Promise((resolve) => linkServer.listen(0, '127.0.0.1', () => resolve(undefined))),
  ]);
  const port = (a: unknown) => (a as { port: number }).port;
  send({ type: 'ready', wsPort: port(wss.address()), linkPort: port(linkServer.address()) });
}

process.on('message', (raw) => {
  const m = raw as ToRelay;
  if (m.type === 'start') return void start(m.redisUrl).catch((err: unknown) => send({ type: 'failed', error: String(err) }));
  link = connect(m.linkPort, '127.0.0.1', () => send({ type: 'linked' }));
  link.setNoDelay(true);
  link.on('error', (err) => send({ type: 'failed', error: err.message }));
});
// The bench is over (or gone): nothing to keep.
process.on('disconnect', () => process.exit(0));
