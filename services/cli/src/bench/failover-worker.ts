/**
 * The failover scenario's part of a bench worker (worker.ts hands it the 'fo-*' messages): clients that
 * reconnect by themselves (failover-user.ts), open-loop private messages between them, and every count
 * the parent needs to tell acknowledged-but-lost messages from duplicates.
 */
import { Command, Prop, type CimFrame } from '../../../common/src/codec.ts';
import { RouteHttp } from './cim-user.ts';
import { FailoverUser } from './failover-user.ts';
import type { FailoverFromWorker, FailoverToWorker } from './failover-protocol.ts';
import type { FromWorker } from './protocol.ts';
import { Histogram, now } from './stats.ts';

const clients: FailoverUser[] = [];
let route: RouteHttp | undefined;
const logins = new Histogram();
const loginCodes: Record<string, number> = {};
let connectFailures = 0;
const attemptErrors: Record<string, number> = {};
const latency = new Histogram();
const ackedIds = new Map<number, number[]>(); // sender userId -> numbers acked SENT
const receivedIds = new Map<number, Set<number>>(); // sender userId -> numbers received
let sent = 0, acked = 0, ackFailed = 0, skipped = 0, received = 0, duplicates = 0, replayed = 0, syncRecovered = 0;
let synced = false;
let syncAt = 0;
let syncInFlight = 0;
const syncLate: Array<[number, number]> = [];
/** A message sent this shortly before the drain's SYNC may have its live push still on the way. */
const IN_FLIGHT_MS = 1000;
let traffic: NodeJS.Timeout | undefined;
let progress: NodeJS.Timeout | undefined;

const send = (m: FailoverFromWorker | FromWorker) => process.send?.(m);
const MSG_ID = /^f(\d+)n(\d+)$/;

function onFrame(_user: FailoverUser, f: CimFrame): void {
  if (f.cmd === Command.MESSAGE && f.reqMsg.startsWith('f|')) {
    const [, from, n, ts] = f.reqMsg.split('|');
    const sender = Number(from);
    let seen = receivedIds.get(sender);
    if (!seen) receivedIds.set(sender, (seen = new Set()));
    if (seen.has(Number(n))) return void duplicates++;
    seen.add(Number(n));
    received++;
    if (f.properties[Prop.replay] === '1') {
      replayed++;
      // Only a replayed entry is the SYNC's doing: a live push after the stop was in flight at the stop.
      if (synced) {
        syncRecovered++;
        if (Number(ts) > syncAt - IN_FLIGHT_MS) syncInFlight++;
        else syncLate.push([sender, Number(n)]);
      }
    }
    latency.record(now() - Number(ts));
  } else if (f.cmd === Command.MESSAGE_ACK) {
    const id = MSG_ID.exec(f.properties[Prop.msgId] ?? '');
    if (!id) return;
    if (f.properties[Prop.code] !== '9000') return void ackFailed++;
    acked++;
    const from = Number(id[1]);
    let list = ackedIds.get(from);
    if (!list) ackedIds.set(from, (list = []));
    list.push(Number(id[2]));
  }
}

const hooks = {
  onFrame,
  onReconnectLogin(ms: number, code: string) {
    logins.record(ms);
    loginCodes[code] = (loginCodes[code] ?? 0) + 1;
  },
  onConnectFailure: () => void connectFailures++,
  onAttemptFailed(reason: string) {
    // Addresses and ids vary: keep the reason's shape so that equal causes add up.
    const key = reason.replace(/\d+/g, 'N').slice(0, 120);
    attemptErrors[key] = (attemptErrors[key] ?? 0) + 1;
  },
};

async function connect(m: Extract<FailoverToWorker, { type: 'fo-connect' }>): Promise<void> {
  route ??= new RouteHttp(m.routeUrl, 1024);
  let errors = 0;
  let firstError: string | undefined;
  let done = 0;
  const start = clients.length;
  const ready: FailoverUser[] = [];
  progress = setInterval(() => send({ type: 'progress', done, received: 0, acked: 0 }), 500);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(m.concurrency, m.names.length) }, async () => {
    while (next < m.names.length) {
      const userName = m.names[next++]!;
      try {
        const account = await route!.call('/registerAccount', { userName });
        const user = new FailoverUser(route!, Number(account['userId']), userName, hooks);
        await user.start();
        ready.push(user);
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
      }
      done++;
    }
  }));
  clearInterval(progress);
  clients.push(...ready);
  send({ type: 'fo-connected', users: clients.slice(start).map((u) => ({ userId: u.userId, server: u.server })), errors, ...(firstError ? { firstError } : {}) });
}

/** Open loop at `rate`: each due message goes to the next sender that is connected; none connected = skipped. */
function startTraffic(m: Extract<FailoverToWorker, { type: 'fo-traffic' }>): void {
  const counters = new Map<number, number>();
  const t0 = now();
  let slots = 0;
  let k = 0;
  progress = setInterval(() => send({ type: 'progress', done: sent, received, acked }), 500);
  if (m.sends.length > 0) {
    traffic = setInterval(() => {
      const due = Math.floor(((now() - t0) / 1000) * m.rate);
      for (; slots < due; slots++) {
        let tries = 0;
        for (; tries < m.sends.length; tries++) {
          const [index, to] = m.sends[k++ % m.sends.length]!;
          const u = clients[index]!;
          if (!u.up) continue;
          const n = (counters.get(index) ?? 0) + 1;
          if (!u.send({ cmd: Command.MESSAGE, requestId: u.userId, reqMsg: `f|${u.userId}|${n}|${now()}`, properties: { [Prop.receiveUserId]: String(to), [Prop.msgId]: `f${u.userId}n${n}` } })) continue;
          counters.set(index, n);
          sent++;
          break;
        }
        if (tries === m.sends.length) skipped++;
      }
    }, 5);
  }
  send({ type: 'fo-started' });
}

function result(): FailoverFromWorker {
  return {
    type: 'fo-result',
    clients: clients.length,
    outages: clients.flatMap((u) => u.outages),
    logins: logins.toData(),
    loginCodes,
    connectFailures,
    attemptErrors,
    sent, acked, ackFailed, skipped, received, duplicates, replayed, syncRecovered, syncInFlight, syncLate,
    latency: latency.toData(),
    ackedIds: [...ackedIds],
    receivedIds: [...receivedIds].map(([s, set]) => [s, [...set]]),
  };
}

/** Handles a failover message; false when `m` is not one (worker.ts handles it). */
export function handleFailover(raw: unknown, fail: (err: unknown) => void): boolean {
  const m = raw as FailoverToWorker;
  switch (m.type) {
    case 'fo-connect':
      void connect(m).catch(fail);
      return true;
    case 'fo-traffic':
      startTraffic(m);
      return true;
    case 'fo-stop':
      clearInterval(traffic);
      // The drain starts with the SDK's periodic SYNC, brought forward (it would come within 30 s).
      synced = true;
      syncAt = now();
      for (const u of clients) u.sync();
      send({ type: 'fo-stopped', sent });
      return true;
    case 'fo-status': {
      const up = clients.filter((u) => u.up).length;
      send({ type: 'fo-status', up, down: clients.length - up, outages: clients.reduce((s, u) => s + u.outages.length, 0) });
      return true;
    }
    case 'fo-collect':
      clearInterval(progress);
      send(result());
      return true;
    default:
      return false;
  }
}

export function closeFailover(): void {
  clearInterval(traffic);
  clearInterval(progress);
  for (const u of clients) u.close();
  route?.close();
}
