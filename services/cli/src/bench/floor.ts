/**
 * The floor scenario of `cim bench`: the p2p scenario's message flow (MESSAGE, two stores, ACK, across to
 * the other relay, DELIVER, batched RECEIPTS, one store, RECEIPT back to the sender) through two relays
 * that do nothing else (floor-relay.ts), with the same libraries, the same Redis and the same kind of load.
 * Its ceiling and latency are what this machine allows for that flow with any server code: the p2p rows
 * measured beside it say how far our servers are from it, whatever the machine's speed that hour.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FromGenerator, FloorCounts, FloorRun, ToGenerator } from './floor-generator.ts';
import type { FromRelay, ToRelay } from './floor-relay.ts';
import { CLIENTS_PER_PROCESS, lowerPriority } from './fleet.ts';
import { formatLatency } from './report.ts';
import type { ScenarioResult } from './scenarios.ts';
import { CpuMeter, Histogram, now, procCpuSeconds, round } from './stats.ts';

const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
const RELAY = fileURLToPath(new URL(`./floor-relay.${ext}`, import.meta.url));
const GENERATOR = fileURLToPath(new URL(`./floor-generator.${ext}`, import.meta.url));
/** The payload of the p2p scenario's texts is about this size. */
const PAYLOAD_BYTES = 64;

export interface FloorOptions {
  readonly redisUrl: string;
  readonly redisPid: number;
  readonly users: number;
  readonly rate: number;
  readonly window: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly drainS: number;
  readonly receipts: boolean;
  readonly generatorNice: number;
}

/** The next IPC message of `type` from `child`; rejects on its 'failed' message or its exit. */
function next<M extends { type: string }, T extends M['type']>(child: ChildProcess, type: T, onOther?: (m: M) => void): Promise<Extract<M, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (raw: unknown) => {
      const m = raw as M;
      if (m.type === type) {
        off();
        resolve(m as Extract<M, { type: T }>);
      } else if (m.type === 'failed') {
        off();
        reject(new Error(`bench floor: ${(m as unknown as { error: string }).error}`));
      } else onOther?.(m);
    };
    const onExit = (code: number | null) => {
      off();
      reject(new Error(`bench floor: a process exited (${code}) before answering '${type}'`));
    };
    const off = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

const start = (module: string) => fork(module, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });

export async function benchFloor(o: FloorOptions): Promise<ScenarioResult> {
  const relays = [start(RELAY), start(RELAY)];
  const generator = start(GENERATOR);
  try {
    const ready = await Promise.all(relays.map((r) => (r.send({ type: 'start', redisUrl: o.redisUrl } satisfies ToRelay), next<FromRelay, 'ready'>(r, 'ready'))));
    await Promise.all(relays.map((r, i) => (r.send({ type: 'peer', linkPort: ready[1 - i]!.linkPort } satisfies ToRelay), next<FromRelay, 'linked'>(r, 'linked'))));
    const niced = lowerPriority([generator.pid!], o.generatorNice);
    const wanted = Math.min(o.users, CLIENTS_PER_PROCESS);
    const users = wanted - (wanted % 2); // pairs across the two relays
    const run: FloorRun = { type: 'run', wsPorts: [ready[0]!.wsPort, ready[1]!.wsPort], users, rate: o.rate, window: o.window, durationS: o.durationS, warmupS: o.warmupS, drainS: o.drainS, receipts: o.receipts, payloadBytes: PAYLOAD_BYTES };
    generator.send(run satisfies ToGenerator);
    await next<FromGenerator, 'connected'>(generator, 'connected');

    const cpu = new CpuMeter(new Map([['relay-1', relays[0]!.pid!], ['relay-2', relays[1]!.pid!], ['redis', o.redisPid]]));
    cpu.start();
    const gen0 = procCpuSeconds(generator.pid!);
    const t0 = now();
    const total = o.window > 0 ? 0 : Math.round(o.rate * (o.warmupS + o.durationS));
    const showProgress = (m: FromGenerator) => {
      if (m.type !== 'progress') return;
      const elapsed = (now() - t0) / 1000;
      const eta = total > 0 && m.sent > 0 ? ((total - m.sent) * elapsed) / m.sent : o.warmupS + o.durationS - elapsed;
      process.stderr.write(`  floor: ${m.sent}${total ? `/${total}` : ''}, received ${m.received}, ${elapsed.toFixed(0)} s, ETA ${Math.max(0, eta).toFixed(0)} s\n`);
    };
    const sendDone = next<FromGenerator, 'sendDone'>(generator, 'sendDone', showProgress);
    const answer = next<FromGenerator, 'result'>(generator, 'result');
    answer.catch(() => undefined); // awaited below; a failure before then is sendDone's to report
    generator.send({ type: 'go' } satisfies ToGenerator);
    await sendDone;
    const sendSeconds = (now() - t0) / 1000;
    const result = await answer;
    const seconds = (now() - t0) / 1000;
    const clusterCpu = cpu.cores();
    const generatorCpu = round((procCpuSeconds(generator.pid!) - gen0) / seconds, 3);
    return floorResult(o, users, result.counts, result, { sendSeconds, seconds, clusterCpu, generatorCpu, niced });
  } finally {
    for (const child of [...relays, generator]) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

function floorResult(
  o: FloorOptions,
  users: number,
  n: FloorCounts,
  h: Extract<FromGenerator, { type: 'result' }>,
  m: { sendSeconds: number; seconds: number; clusterCpu: Record<string, number>; generatorCpu: number; niced: boolean },
): ScenarioResult {
  const latency = new Histogram();
  latency.merge(h.latency);
  const warmupLatency = new Histogram();
  warmupLatency.merge(h.warmupLatency);
  const warmup = o.warmupS > 0 ? warmupLatency.summary() : undefined;
  const warmupNote = warmup ? `; the first ${o.warmupS} s (warm-up, not in the latency column): ${warmup.count > 0 ? formatLatency(warmup) : 'nothing received'}` : '';
  const lost = n.sent - n.received;
  const mode = o.window > 0 ? `closed loop, ${o.window} unacknowledged per sender` : `target ${o.rate}/s`;
  const stores = o.receipts ? 'two Redis scripts before the ACK, one per receipts frame' : 'two Redis scripts before the ACK, no receipts';
  return {
    scenario: 'floor',
    description: `the p2p flow through two relays that only forward (no codec, sessions or routes; ${stores}; the scripts only INCR): what this machine allows; ${users} senders, ${mode}, ${o.warmupS > 0 ? `${o.warmupS} s warm-up + ` : ''}${o.durationS} s${m.niced ? '' : '; the generator could not be niced'}`,
    summary: `sent ${n.sent} (**${(n.sent / m.sendSeconds).toFixed(0)}/s**), received ${n.received}, acked ${n.acked}, receipts ${n.receipts}, **lost ${lost}**, duplicates ${n.duplicates}${warmupNote}`,
    numbers: { ...n, lost, perSecond: round(n.sent / m.sendSeconds, 1), senders: users, seconds: round(m.seconds, 3), warmupSeconds: o.warmupS },
    ...(warmup ? { warmupLatency: warmup } : {}),
    latency: latency.summary(),
    latencyLabel: 'send → receive',
    clusterCpu: m.clusterCpu,
    generatorCpu: m.generatorCpu,
  };
}
