/**
 * The load of the bench's floor (floor.ts), forked by the parent and driven over IPC: `users` WebSocket
 * clients split over the two relays, each sending to its partner on the other relay, open loop at `rate`
 * or closed loop (`window` unacknowledged per sender, released by the ACK), as the p2p scenario does.
 * Receivers acknowledge like the SDK's DeliveryAcks: batched, within 20 ms or 64 entries.
 */
import WebSocket from 'ws';
import { FloorFrame, helloFrame, messageFrame, receiptsFrame, sentAtOf, u32At } from './floor-frames.ts';
import { pool } from './pool.ts';
import type { HistogramMsg } from './protocol.ts';
import { Histogram, now, selfCpuSeconds } from './stats.ts';

export interface FloorRun {
  type: 'run';
  wsPorts: [number, number];
  users: number;
  rate: number;
  window: number;
  durationS: number;
  warmupS: number;
  drainS: number;
  receipts: boolean;
  payloadBytes: number;
}
export type ToGenerator = FloorRun | { type: 'go' };

export interface FloorCounts {
  sent: number;
  acked: number;
  received: number;
  duplicates: number;
  receipts: number;
}
export type FromGenerator =
  | { type: 'connected' }
  | { type: 'progress'; sent: number; received: number }
  | { type: 'sendDone' }
  | { type: 'result'; counts: FloorCounts; latency: HistogramMsg; warmupLatency: HistogramMsg; cpuSeconds: number }
  | { type: 'failed'; error: string };

const RECEIPT_DELAY_MS = 20;
const RECEIPT_BATCH = 64;
const CONNECTS_IN_FLIGHT = 64;

const send = (m: FromGenerator) => process.send?.(m);
let run: FloorRun | undefined;
const clients: WebSocket[] = [];
const counts: FloorCounts = { sent: 0, acked: 0, received: 0, duplicates: 0, receipts: 0 };
const latency = new Histogram();
const warmupLatency = new Histogram();
const seen = new Set<number>();
const inFlight: number[] = [];
const nextSeq: number[] = [];
let t0 = 0;
let stopped = false;

/** The client of user `i` (on relay i % 2); resolves when its relay registered it. */
function open(i: number, port: number, onFrame: (f: Buffer) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
    ws.on('error', reject); // after the open: ignored (a dropped client shows as lost messages)
    ws.once('open', () => ws.send(helloFrame(i)));
    ws.once('message', () => {
      ws.on('message', (data: Buffer) => onFrame(data));
      resolve(ws);
    });
  });
}

function receiver(i: number): (f: Buffer) => void {
  let pending: Array<[number, number]> = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (pending.length > 0) clients[i]!.send(receiptsFrame(i, pending));
    pending = [];
  };
  return (f) => {
    switch (f[0]) {
      case FloorFrame.ACK:
        counts.acked++;
        if (run!.window > 0) {
          inFlight[i]!--;
          if (!stopped) sendOne(i);
        }
        return;
      case FloorFrame.RECEIPT:
        return void counts.receipts++;
      case FloorFrame.DELIVER: {
        const from = u32At(f, 1), seq = u32At(f, 9);
        const key = from * 2 ** 32 + seq;
        if (seen.has(key)) return void counts.duplicates++;
        seen.add(key);
        counts.received++;
        const sentAt = sentAtOf(f);
        (sentAt - t0 < run!.warmupS * 1000 ? warmupLatency : latency).record(now() - sentAt);
        if (!run!.receipts) return;
        pending.push([from, seq]);
        if (pending.length >= RECEIPT_BATCH) flush();
        else timer ??= setTimeout(flush, RECEIPT_DELAY_MS);
      }
    }
  };
}

let payload = Buffer.alloc(0);

function sendOne(i: number): void {
  const seq = ++nextSeq[i]!;
  counts.sent++;
  if (run!.window > 0) inFlight[i]!++;
  clients[i]!.send(messageFrame(i, i ^ 1, seq, now(), payload));
}

async function connectAll(r: FloorRun): Promise<void> {
  run = r;
  payload = Buffer.alloc(r.payloadBytes, 'x');
  await pool(Array.from({ length: r.users }, (_, i) => i), CONNECTS_IN_FLIGHT, async (i) => {
    nextSeq[i] = 0;
    inFlight[i] = 0;
    clients[i] = await open(i, r.wsPorts[i % 2]!, receiver(i));
  });
  send({ type: 'connected' });
}

/** Sends for warm-up + duration, then waits (at most `drainS`) for every delivery and receipt. */
function go(): void {
  const r = run!;
  const progress = setInterval(() => send({ type: 'progress', sent: counts.sent, received: counts.received }), 500);
  const sendingS = r.warmupS + r.durationS;
  const total = Math.round(r.rate * sendingS);
  t0 = now();
  const finish = (): void => {
    stopped = true;
    clearInterval(tick);
    send({ type: 'sendDone' });
    const deadline = now() + r.drainS * 1000;
    const drained = () => counts.received >= counts.sent && counts.acked >= counts.sent && (!r.receipts || counts.receipts >= counts.received);
    const wait = setInterval(() => {
      if (!drained() && now() < deadline) return;
      clearInterval(wait);
      clearInterval(progress);
      send({ type: 'result', counts, latency: latency.toData(), warmupLatency: warmupLatency.toData(), cpuSeconds: selfCpuSeconds() });
    }, 20);
  };
  let k = 0;
  const tick = setInterval(() => {
    const elapsed = (now() - t0) / 1000;
    if (r.window === 0) {
      const due = Math.min(total, Math.floor(elapsed * r.rate));
      for (; counts.sent < due; k++) sendOne(k % r.users);
    }
    if (elapsed >= sendingS || (r.window === 0 && counts.sent >= total)) finish();
  }, 2);
  if (r.window > 0) for (let i = 0; i < r.users; i++) for (let w = 0; w < r.window; w++) sendOne(i);
}

process.on('message', (raw) => {
  const m = raw as ToGenerator;
  if (m.type === 'run') return void connectAll(m).catch((err: unknown) => send({ type: 'failed', error: String(err) }));
  go();
});
process.on('disconnect', () => process.exit(0));
