/**
 * A load-generator process of `cim bench` (forked by the parent, driven over IPC; see protocol.ts). It
 * holds its share of the simulated users and measures what it receives: latency is stamped by the
 * sending process and read by the receiving one, on the same host clock.
 */
import { Command, type CimFrame } from '../../../common/src/codec.ts';
import { connectBenchUser } from '../bench-client.ts';
import { connectCimUser, RouteHttp } from './cim-user.ts';
import { closeFailover, handleFailover } from './failover-worker.ts';
import { pool } from './pool.ts';
import { WARMUP_MARK, type FromWorker, type ToWorker, type UserKind } from './protocol.ts';
import { Histogram, now, selfCpuSeconds } from './stats.ts';

interface GenUser {
  readonly userId: number;
  readonly userName: string;
  readonly server: string;
  readonly kind: UserKind;
  onFrame: (frame: CimFrame) => void;
  /** in-band MESSAGE (native) */
  send?(frame: Partial<CimFrame>): void;
  /** whether received private messages are acknowledged DELIVERED (native) */
  acknowledge?(on: boolean): void;
  close(): void;
}

const users: GenUser[] = [];
let route: RouteHttp | undefined;
let registered: Array<{ userId: number; userName: string }> = [];
let stats: { progress(): { done: number; received: number; acked: number }; result(): Extract<FromWorker, { type: 'result' }> } | undefined;
let progressTimer: NodeJS.Timeout | undefined;

const send = (m: FromWorker) => process.send?.(m);

function startProgress(): void {
  clearInterval(progressTimer);
  progressTimer = setInterval(() => stats && send({ type: 'progress', ...stats.progress() }), 500);
}

async function connectUsers(m: Extract<ToWorker, { type: 'connect' }>): Promise<void> {
  route ??= new RouteHttp(m.routeUrl);
  const latency = new Histogram();
  let errors = 0;
  let firstError: string | undefined;
  let done = 0;
  stats = { progress: () => ({ done, received: 0, acked: 0 }), result: () => ({ type: 'result', cpuSeconds: selfCpuSeconds() }) };
  startProgress();
  const start = users.length;
  await pool(m.names, m.concurrency, async (name) => {
    const t0 = now();
    try {
      if (m.kind === 'native') {
        const u = await connectBenchUser(m.routeUrl, name);
        const g: GenUser = { userId: u.userId, userName: name, server: u.server, kind: 'native', onFrame: () => undefined, send: (f) => u.connection.send(f), acknowledge: (on) => void (u.acknowledges = on), close: () => u.close() };
        u.onFrame = (f) => g.onFrame(f);
        users.push(g);
      } else {
        const u = await connectCimUser(route!, name);
        const g: GenUser = { userId: u.userId, userName: name, server: u.server, kind: 'cim', onFrame: () => undefined, close: () => u.close() };
        u.onFrame = (f) => g.onFrame(f);
        users.push(g);
      }
      latency.record(now() - t0);
    } catch (err) {
      errors++;
      firstError ??= (err as Error).message;
    }
    done++;
  });
  clearInterval(progressTimer);
  send({ type: 'connected', users: users.slice(start).map((u) => ({ userId: u.userId, server: u.server })), latency: latency.toData(), errors, ...(firstError ? { firstError } : {}) });
}

async function registerUsers(m: Extract<ToWorker, { type: 'register' }>): Promise<void> {
  route ??= new RouteHttp(m.routeUrl);
  registered = [];
  let errors = 0;
  let firstError: string | undefined;
  await pool(m.names, m.concurrency, async (userName) => {
    try {
      const a = await route!.call('/registerAccount', { userName });
      registered.push({ userId: Number(a['userId']), userName });
    } catch (err) {
      errors++;
      firstError ??= (err as Error).message;
    }
  });
  send({ type: 'registered', count: registered.length, errors, ...(firstError ? { firstError } : {}) });
}

async function loginUsers(m: Extract<ToWorker, { type: 'login' }>): Promise<void> {
  const latency = new Histogram();
  let errors = 0;
  let done = 0;
  let firstError: string | undefined;
  stats = { progress: () => ({ done, received: 0, acked: 0 }), result: () => ({ type: 'result', cpuSeconds: selfCpuSeconds() }) };
  startProgress();
  await pool(registered, m.concurrency, async (a) => {
    const t0 = now();
    try {
      await route!.call('/login', { userId: a.userId, userName: a.userName, protocol: 2 });
      latency.record(now() - t0);
    } catch (err) {
      errors++;
      firstError ??= (err as Error).message;
    }
    done++;
  });
  clearInterval(progressTimer);
  send({ type: 'loggedIn', count: latency.count, errors, latency: latency.toData(), ...(firstError ? { firstError } : {}) });
}

/** Private messages, open loop (`rate`) or closed loop (`window` unacknowledged per sender). */
function runP2p(m: Extract<ToWorker, { type: 'p2p' }>): void {
  const latency = new Histogram();
  const warmupLatency = new Histogram();
  const seen = new Set<string>();
  let sent = 0, acked = 0, ackFailed = 0, offline = 0, receipts = 0, received = 0, duplicates = 0;
  const inFlight = new Map<number, number>(); // closed loop: local index -> unacknowledged
  const counters = new Map<number, number>(); // per sender: next message number
  for (const u of users) u.acknowledge?.(m.receipts);
  const onAck = (localIndex: number, ok: boolean, live = true) => {
    if (ok) acked++;
    else ackFailed++;
    if (!live) offline++;
    if (m.window > 0) {
      inFlight.set(localIndex, (inFlight.get(localIndex) ?? 1) - 1);
      if (!stopped) sendOne(localIndex);
    }
  };
  for (const [i, u] of users.entries()) {
    u.onFrame = (f) => {
      if (f.cmd === Command.MESSAGE && f.reqMsg.startsWith('p|')) {
        const [, from, n, ts] = f.reqMsg.split('|');
        const key = `${from}|${n}`;
        if (seen.has(key)) return void duplicates++;
        seen.add(key);
        received++;
        (f.reqMsg.endsWith(WARMUP_MARK) ? warmupLatency : latency).record(now() - Number(ts));
      } else if (f.cmd === Command.MESSAGE_ACK) onAck(i, f.properties['code'] === '9000');
      else if (f.cmd === Command.RECEIPT) receipts += f.batchReqMsg.length;
    };
  }
  const targets = new Map(m.sends);
  const t0 = now();
  const sendOne = (localIndex: number) => {
    const u = users[localIndex]!;
    const to = targets.get(localIndex)!;
    const n = (counters.get(localIndex) ?? 0) + 1;
    counters.set(localIndex, n);
    const at = now();
    const text = `p|${u.userId}|${n}|${at}${at - t0 < m.warmupS * 1000 ? WARMUP_MARK : ''}`;
    sent++;
    if (m.window > 0) inFlight.set(localIndex, (inFlight.get(localIndex) ?? 0) + 1);
    if (u.kind === 'native') u.send!({ cmd: Command.MESSAGE, requestId: u.userId, reqMsg: text, properties: { receiveUserId: String(to) } });
    else {
      route!.post('/p2pRoute', { userId: u.userId, receiveUserId: to, msg: text }).then(
        (e) => onAck(localIndex, e.code === '9000' || e.code === '7000', e.code === '9000'),
        () => onAck(localIndex, false),
      );
    }
  };
  stats = {
    progress: () => ({ done: sent, received, acked }),
    result: () => ({ type: 'result', cpuSeconds: selfCpuSeconds(), p2p: { sent, acked, ackFailed, offline, receipts, received, duplicates, latency: latency.toData(), warmupLatency: warmupLatency.toData() } }),
  };
  startProgress();
  let stopped = false;
  const finish = () => {
    stopped = true;
    clearInterval(tick);
    send({ type: 'sendDone', sent });
  };
  const senders = m.sends.map(([i]) => i);
  if (senders.length === 0) return void send({ type: 'sendDone', sent: 0 });
  const sendingS = m.warmupS + m.durationS;
  const total = Math.round(m.rate * sendingS);
  let k = 0;
  // Open loop: every 2 ms send what is due; a generator that falls behind shows as achieved < target.
  const tick = setInterval(() => {
    const elapsed = (now() - t0) / 1000;
    if (m.window > 0) {
      if (elapsed >= sendingS) finish();
      return;
    }
    const due = Math.min(total, Math.floor(elapsed * m.rate));
    for (; sent < due; k++) sendOne(senders[k % senders.length]!);
    if (sent >= total) finish();
  }, 2);
  if (m.window > 0) for (const i of senders) for (let w = 0; w < m.window; w++) sendOne(i);
}

function runGroup(m: Extract<ToWorker, { type: 'group' }>): void {
  const perSeq = new Map<number, [number, number, number]>(); // seq -> [count, lastAt, sentAt]
  let deliveries = 0;
  let sent = 0;
  for (const u of users) {
    u.onFrame = (f) => {
      if (f.cmd !== Command.MESSAGE || !f.reqMsg.startsWith('g|')) return;
      const [, seqText, sentText] = f.reqMsg.split('|');
      const seq = Number(seqText);
      const e = perSeq.get(seq) ?? [0, 0, Number(sentText)];
      e[0]++;
      e[1] = now();
      perSeq.set(seq, e);
      deliveries++;
    };
  }
  stats = {
    progress: () => ({ done: sent, received: deliveries, acked: 0 }),
    result: () => ({ type: 'result', cpuSeconds: selfCpuSeconds(), group: { sent, perSeq: [...perSeq].map(([s, [c, l, t]]) => [s, c, l, t]) } }),
  };
  startProgress();
  if (m.sender === undefined) return void send({ type: 'sendDone', sent: 0 });
  const u = users[m.sender]!;
  const total = Math.round(m.rate * m.durationS);
  const t0 = now();
  const tick = setInterval(() => {
    const due = Math.min(total, Math.floor(((now() - t0) / 1000) * m.rate) + 1);
    for (; sent < due; sent++) u.send!({ cmd: Command.MESSAGE, requestId: u.userId, reqMsg: `g|${sent}|${now()}` });
    if (sent >= total) {
      clearInterval(tick);
      send({ type: 'sendDone', sent });
    }
  }, 2);
}

process.on('message', (raw) => {
  const m = raw as ToWorker;
  const fail = (err: unknown) => send({ type: 'failed', error: (err as Error).stack ?? String(err) });
  try {
    if (handleFailover(m, fail)) return;
    switch (m.type) {
      case 'connect':
        return void connectUsers(m).catch(fail);
      case 'register':
        return void registerUsers(m).catch(fail);
      case 'login':
        return void loginUsers(m).catch(fail);
      case 'p2p':
        return runP2p(m);
      case 'group':
        return runGroup(m);
      case 'collect':
        clearInterval(progressTimer);
        return void send(stats?.result() ?? { type: 'result', cpuSeconds: selfCpuSeconds() });
      case 'close':
        closeFailover();
        for (const u of users) u.close();
        route?.close();
        process.disconnect?.();
        setTimeout(() => process.exit(0), 200).unref();
        return;
    }
  } catch (err) {
    fail(err);
  }
});
// The parent went away: nothing left to measure for.
process.on('disconnect', () => {
  closeFailover();
  for (const u of users) u.close();
  process.exit(0);
});
