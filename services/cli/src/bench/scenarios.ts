/**
 * The scenarios of `cim bench`, run from the parent: each asks the worker processes to do its part,
 * meters the cluster's CPU over exactly that phase, and returns one result row.
 */
import type { UserKind } from './protocol.ts';
import type { Fleet } from './fleet.ts';
import { CpuMeter, Histogram, now, round, type LatencySummary } from './stats.ts';
import { formatLatency } from './report.ts';

export interface Cluster {
  readonly routeUrl: string;
  /** name -> pid of the measured processes (empty against an existing deployment) */
  readonly pids: ReadonlyMap<string, number>;
}

export interface ScenarioResult {
  readonly scenario: string;
  readonly description: string;
  readonly summary: string;
  readonly numbers: Record<string, number>;
  readonly latency?: LatencySummary;
  readonly latencyLabel?: string;
  /** p2p with --warmup: the latency of the messages sent during the warm-up (not in `latency`) */
  readonly warmupLatency?: LatencySummary;
  /** cores per cluster process over the phase */
  readonly clusterCpu: Record<string, number>;
  readonly generatorCpu: number;
}

export interface ConnectedUser {
  readonly worker: number;
  readonly index: number;
  readonly userId: number;
  readonly server: string;
}

/** Meters the cluster and the generator over one phase. */
function meter(cluster: Cluster, fleet: Fleet) {
  const cpu = new CpuMeter(cluster.pids);
  cpu.start();
  const gen0 = fleet.cpuSeconds();
  const t0 = now();
  return () => {
    const seconds = (now() - t0) / 1000;
    return { seconds, clusterCpu: cpu.cores(), generatorCpu: round((fleet.cpuSeconds() - gen0) / seconds, 3) };
  };
}

const split = <T>(items: readonly T[], parts: number): T[][] => Array.from({ length: parts }, (_, p) => items.filter((_, i) => i % parts === p));

/** Connects `count` users (spread over the workers) and returns where each landed. */
export async function connectUsers(fleet: Fleet, cluster: Cluster, kind: UserKind, names: readonly string[], concurrency: number): Promise<{ users: ConnectedUser[]; result: ScenarioResult }> {
  const parts = split(names, fleet.workers.length);
  const done = meter(cluster, fleet);
  const answers = await fleet.ask('connected', (i) => ({ type: 'connect', kind, routeUrl: cluster.routeUrl, names: parts[i]!, concurrency: Math.max(1, Math.ceil(concurrency / fleet.workers.length)) }), `connect ${kind}`, names.length);
  const m = done();
  const latency = new Histogram();
  const users: ConnectedUser[] = [];
  let errors = 0;
  let firstError = '';
  answers.forEach((a, worker) => {
    if (!a) return;
    latency.merge(a.latency);
    errors += a.errors;
    firstError ||= a.firstError ?? '';
    a.users.forEach((u, index) => users.push({ worker, index, ...u }));
  });
  if (users.length === 0) throw new Error(`no user could connect: ${firstError}`);
  const rate = users.length / m.seconds;
  return {
    users,
    result: {
      scenario: `connect-${kind}`,
      description: `${kind === 'native' ? 'register + /login + WebSocket + LOGIN_REQUEST' : 'register + /login + TCP + LOGIN_REQUEST (CIM)'}, ${concurrency} in flight`,
      summary: `${users.length} users in ${m.seconds.toFixed(2)} s = **${rate.toFixed(0)}/s**${errors ? `, ${errors} failed (${firstError})` : ''}`,
      numbers: { users: users.length, failed: errors, perSecond: round(rate, 1), seconds: round(m.seconds, 3) },
      latency: latency.summary(),
      clusterCpu: m.clusterCpu,
      generatorCpu: m.generatorCpu,
    },
  };
}

/** POST /login only (accounts registered beforehand, untimed): the route's work per login. */
export async function benchLogin(fleet: Fleet, cluster: Cluster, names: readonly string[], concurrency: number): Promise<ScenarioResult> {
  const parts = split(names, fleet.workers.length);
  const perWorker = Math.max(1, Math.ceil(concurrency / fleet.workers.length));
  await fleet.ask('registered', (i) => ({ type: 'register', routeUrl: cluster.routeUrl, names: parts[i]!, concurrency: perWorker }), 'register', names.length);
  const done = meter(cluster, fleet);
  const answers = await fleet.ask('loggedIn', () => ({ type: 'login', concurrency: perWorker }), 'login', names.length);
  const m = done();
  const latency = new Histogram();
  let errors = 0;
  let firstError = '';
  for (const a of answers) {
    if (!a) continue;
    latency.merge(a.latency);
    errors += a.errors;
    firstError ||= a.firstError ?? '';
  }
  const rate = latency.count / m.seconds;
  const routeCores = m.clusterCpu['route'];
  // The route's capacity: logins per CPU-second of the route process (the generator shares the cores).
  const perRouteCore = routeCores !== undefined && routeCores > 0 ? rate / routeCores : NaN;
  return {
    scenario: 'login',
    description: `POST /login (protocol 2: route picks a server, writes the route to Redis, issues a token), ${concurrency} in flight`,
    summary: `${latency.count} logins in ${m.seconds.toFixed(2)} s = **${rate.toFixed(0)}/s**${Number.isFinite(perRouteCore) ? `; route: ${perRouteCore.toFixed(0)} logins per route CPU-second` : ''}${errors ? `, ${errors} failed (${firstError})` : ''}`,
    numbers: { logins: latency.count, failed: errors, perSecond: round(rate, 1), perRouteCpuSecond: round(perRouteCore, 0), seconds: round(m.seconds, 3) },
    latency: latency.summary(),
    clusterCpu: m.clusterCpu,
    generatorCpu: m.generatorCpu,
  };
}

/** Private messages between users on different servers (both directions). */
export async function benchP2p(fleet: Fleet, cluster: Cluster, users: readonly ConnectedUser[], o: { kind: UserKind; rate: number; durationS: number; warmupS: number; window: number; drainS: number; receipts: boolean }): Promise<ScenarioResult> {
  const servers = [...new Set(users.map((u) => u.server))];
  const a = users.filter((u) => u.server === servers[0]);
  const b = users.filter((u) => u.server !== servers[0]);
  const pairs = Math.min(a.length, b.length);
  if (pairs === 0) throw new Error('the private-message scenario needs users on two servers');
  const sends: Array<Array<[number, number]>> = fleet.workers.map(() => []);
  for (let k = 0; k < pairs; k++) {
    sends[a[k]!.worker]!.push([a[k]!.index, b[k]!.userId]);
    sends[b[k]!.worker]!.push([b[k]!.index, a[k]!.userId]);
  }
  const senders = pairs * 2;
  const total = o.window > 0 ? 0 : Math.round(o.rate * (o.warmupS + o.durationS));
  const done = meter(cluster, fleet);
  const t0 = now();
  const sendDone = await fleet.ask(
    'sendDone',
    (i) => ({ type: 'p2p', sends: sends[i]!, rate: (o.rate * sends[i]!.length) / senders, durationS: o.durationS, warmupS: o.warmupS, window: o.window, receipts: o.receipts }),
    `p2p-${o.kind} sending`,
    total,
  );
  const sent = sendDone.reduce((s, x) => s + (x?.sent ?? 0), 0);
  const sendSeconds = (now() - t0) / 1000;
  // Drain: wait for every message and ack, up to drainS (each worker reports twice a second).
  const deadline = now() + o.drainS * 1000;
  while (now() < deadline) {
    const p = fleet.progress();
    if (p.received >= sent && p.acked >= sent) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const results = await fleet.ask('result', () => ({ type: 'collect' }));
  const m = done();
  const latency = new Histogram();
  const warmupLatency = new Histogram();
  const n = { sent: 0, acked: 0, ackFailed: 0, offline: 0, receipts: 0, received: 0, duplicates: 0 };
  for (const r of results) {
    if (!r?.p2p) continue;
    latency.merge(r.p2p.latency);
    warmupLatency.merge(r.p2p.warmupLatency);
    for (const k of Object.keys(n) as Array<keyof typeof n>) n[k] += r.p2p[k];
  }
  const lost = n.sent - n.received;
  const mode = o.window > 0 ? `closed loop, ${o.window} unacknowledged per sender` : `target ${o.rate}/s`;
  // The warm-up's messages are in every count; only their latency is kept apart (the latency column is after it).
  const warmup = o.warmupS > 0 ? warmupLatency.summary() : undefined;
  const warmupNote = warmup ? `; the first ${o.warmupS} s (warm-up, not in the latency column): ${warmup.count > 0 ? formatLatency(warmup) : 'nothing received'}` : '';
  const how =
    o.kind === 'cim'
      ? 'CIM API: POST /p2pRoute, receivers on TCP'
      : `in-band MESSAGE over WebSocket, MESSAGE_ACK, ${o.receipts ? 'DELIVERED receipts' : 'receivers do not acknowledge (no DELIVERED receipts: the messages stay in their inboxes)'}`;
  return {
    scenario: o.kind === 'native' ? 'p2p' : 'p2p-cim',
    description: `private, cross-server, ${how}; ${senders} senders, ${mode}, ${o.warmupS > 0 ? `${o.warmupS} s warm-up + ` : ''}${o.durationS} s`,
    summary: `sent ${n.sent} (**${(n.sent / sendSeconds).toFixed(0)}/s**), received ${n.received}, acked ${n.acked}${n.ackFailed ? `, ack failures ${n.ackFailed}` : ''}${o.kind === 'native' ? `, receipts ${n.receipts}` : `, offline answers ${n.offline}`}, **lost ${lost}**, duplicates ${n.duplicates}${warmupNote}`,
    numbers: { ...n, lost, perSecond: round(n.sent / sendSeconds, 1), senders, seconds: round(m.seconds, 3), warmupSeconds: o.warmupS },
    ...(warmup ? { warmupLatency: warmup } : {}),
    latency: latency.summary(),
    latencyLabel: 'send → receive',
    clusterCpu: m.clusterCpu,
    generatorCpu: m.generatorCpu,
  };
}

/** Group messages from one user to everyone else online; latency until the last member has it. */
export async function benchGroup(fleet: Fleet, cluster: Cluster, users: readonly ConnectedUser[], o: { rate: number; durationS: number; drainS: number }): Promise<ScenarioResult> {
  const sender = users[0]!;
  const members = users.length - 1;
  const total = Math.round(o.rate * o.durationS);
  const done = meter(cluster, fleet);
  await fleet.ask('sendDone', (i) => ({ type: 'group', sender: i === sender.worker ? sender.index : undefined, rate: o.rate, durationS: o.durationS }), 'group sending', total);
  const deadline = now() + o.drainS * 1000;
  while (now() < deadline && fleet.progress().received < total * members) await new Promise((r) => setTimeout(r, 100));
  const results = await fleet.ask('result', () => ({ type: 'collect' }));
  const m = done();
  const perSeq = new Map<number, { count: number; last: number; sentAt: number }>();
  for (const r of results) {
    for (const [seq, count, last, sentAt] of r?.group?.perSeq ?? []) {
      const e = perSeq.get(seq) ?? { count: 0, last: 0, sentAt };
      e.count += count;
      e.last = Math.max(e.last, last);
      perSeq.set(seq, e);
    }
  }
  const latency = new Histogram();
  let deliveries = 0;
  for (const e of perSeq.values()) {
    deliveries += e.count;
    if (e.count === members) latency.record(e.last - e.sentAt);
  }
  const expected = total * members;
  return {
    scenario: 'group',
    description: `group (everyone online) to ${members} members, ${o.rate}/s for ${o.durationS} s`,
    summary: `${deliveries} of ${expected} deliveries (${(deliveries / m.seconds).toFixed(0)}/s), **lost ${expected - deliveries}**`,
    numbers: { messages: total, deliveries, expected, lost: expected - deliveries, perSecond: round(deliveries / m.seconds, 1) },
    latency: latency.summary(),
    latencyLabel: 'time to last member',
    clusterCpu: m.clusterCpu,
    generatorCpu: m.generatorCpu,
  };
}

/** Summed over the servers: resident memory and V8 heap in use, from their /metrics (works against any deployment). */
export async function serverMemory(metricsUrls: readonly string[]): Promise<{ rss: number; heap: number; cpuSeconds: number }> {
  let rss = 0;
  let heap = 0;
  let cpuSeconds = 0;
  for (const url of metricsUrls) {
    const text = await fetch(url).then((r) => r.text());
    rss += Number(/^cim_process_resident_memory_bytes(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1] ?? NaN);
    heap += Number(/^cim_nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1] ?? NaN);
    cpuSeconds += Number(/^cim_process_cpu_seconds_total(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1] ?? NaN);
  }
  return { rss, heap, cpuSeconds };
}

/** Logged-in users summed over the servers' /metrics. */
export async function loggedInUsers(metricsUrls: readonly string[]): Promise<number> {
  let n = 0;
  for (const url of metricsUrls) {
    const text = await fetch(url).then((r) => r.text());
    n += Number(/^cim_server_logged_in_users(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1] ?? 0);
  }
  return n;
}
