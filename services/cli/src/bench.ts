/**
 * `cim bench`: load against a cluster of real processes on this machine (started here unless --route
 * names one). The load comes from worker processes (bench/worker.ts) so that the cluster's CPU is not
 * the generator's; the parent meters both, shows progress on stderr, and prints a table (and JSON with --out).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { startProcessCluster, type ProcessCluster } from '../../common/src/infra/process-cluster.ts';
import { startZooKeeper, type ZooKeeperInstance } from '../../common/src/infra/zookeeper.ts';
import { parseCommandLine, type ParsedOptions } from '../../common/src/options.ts';
import { parseServerAddress } from '../../common/src/server-address.ts';
import { CLIENTS_PER_PROCESS, Fleet } from './bench/fleet.ts';
import { summariseProfiles } from './bench/profile-summary.ts';
import { formatTable } from './bench/report.ts';
import { benchFailover } from './bench/failover.ts';
import { benchFloor } from './bench/floor.ts';
import { collectGarbage } from './bench/full-gc.ts';
import { runKillCommand } from './bench/kill-command.ts';
import { benchGroup, benchLogin, benchP2p, connectUsers, loggedInUsers, serverMemory, type Cluster, type ConnectedUser, type ScenarioResult } from './bench/scenarios.ts';
import { now, round } from './bench/stats.ts';

/** The servers' own CPU at rest is measured this long before the clients connect (subtracted from the heartbeats'). */
const IDLE_BASELINE_MS = 3000;
const SCENARIOS = ['all', 'login', 'p2p', 'p2p-cim', 'group', 'connections', 'floor', 'failover'] as const;

const benchOptionSpecs = {
  route: { type: 'string', optional: true, description: 'route URL of a running deployment (default: start one here: ZooKeeper, Redis, --servers servers, 1 route)' },
  servers: { type: 'int', default: 2, min: 2, max: 8, description: 'cim-servers of the cluster started here (without --route)' },
  scenario: { type: 'list', default: ['all'], choices: SCENARIOS, description: `what to measure, comma-separated: ${SCENARIOS.join(', ')}` },
  users: { type: 'int', default: 1000, min: 4, max: 160_000, description: "connected users (native WebSocket; also the floor's senders), split over the workers (each worker is one process: mind its open-files limit)" },
  cimUsers: { type: 'int', default: 400, min: 4, max: 15_000, description: 'users of the p2p-cim scenario (TCP, CIM protocol)' },
  failoverUsers: { type: 'int', default: 1000, min: 4, max: 160_000, description: 'clients of the failover scenario (native WebSocket, reconnecting like the SDK)' },
  killCmd: { type: 'string', optional: true, description: 'failover against --route: shell command that kills the server $CIM_BENCH_VICTIM (host:tcpPort:httpPort) at once, exiting when it is dead' },
  concurrency: { type: 'int', default: 64, min: 1, description: 'logins/connects in flight at once (all workers together)' },
  rate: { type: 'int', default: 5000, min: 1, description: 'private messages per second offered (open loop), cross-server pairs' },
  window: { type: 'int', default: 0, min: 0, max: 1000, description: 'closed loop instead: unacknowledged messages per sender (0 = open loop at --rate)' },
  receipts: { type: 'boolean', default: true, description: 'p2p and floor: receivers acknowledge what they receive (DELIVERED), the acknowledged path; --no-receipts measures the path without that step (the messages stay in the inboxes)' },
  groupRate: { type: 'int', default: 20, min: 1, description: 'group messages per second, each to every other connected user' },
  duration: { type: 'number', default: 10, min: 0.2, description: 'seconds per message scenario' },
  drain: { type: 'number', default: 15, min: 1, description: 'seconds to wait for outstanding deliveries after sending' },
  warmup: { type: 'number', default: 0, min: 0, max: 600, description: 'p2p, p2p-cim and floor: seconds of sending at the same rate before --duration; those messages count (sent, received, lost) but their latency is reported apart' },
  workers: { type: 'int', optional: true, min: 1, max: 16, description: 'load-generator processes (default: one per 19,000 clients of the largest scenario asked for, at least 1)' },
  generatorNice: { type: 'int', default: 10, min: 0, max: 19, description: "the generator processes run this many nice steps below the bench's priority: the cluster runs first where they share cores and the generator takes what is left (0 = the same priority)" },
  maxMsgRate: { type: 'number', default: 0, min: 0, description: "the started servers' --max-msg-rate (their default is 100 frames/s per connection; 0 = unlimited)" },
  out: { type: 'string', optional: true, description: 'write the results as JSON to this file' },
  cpuProf: { type: 'string', optional: true, description: 'directory: run the started route and servers with --cpu-prof and summarise their profiles' },
} as const;
type BenchOptions = ParsedOptions<typeof benchOptionSpecs>;

const wants = (o: Pick<BenchOptions, 'scenario'>, s: (typeof SCENARIOS)[number]) => o.scenario.includes('all') || o.scenario.includes(s);

/**
 * As few generator processes as hold the clients: on a small machine every further process takes CPU from
 * the cluster it measures (2 cores: one worker instead of two raised the p2p ceiling 15-25 %, docs/benchmarks.md).
 */
export function defaultWorkers(o: Pick<BenchOptions, 'scenario' | 'users' | 'cimUsers' | 'failoverUsers'>): number {
  const clients = Math.max(
    wants(o, 'login') || wants(o, 'p2p') || wants(o, 'group') || wants(o, 'connections') ? o.users : 0,
    wants(o, 'p2p-cim') ? o.cimUsers : 0,
    wants(o, 'failover') ? o.failoverUsers : 0,
  );
  return Math.max(1, Math.ceil(clients / CLIENTS_PER_PROCESS));
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseCommandLine(benchOptionSpecs, argv, env, { command: 'cim bench', summary: 'Measures logins, private and group messages and connection memory, with the load generated in worker processes.' });
  if (!parsed.ok) return parsed.exitCode;
  const o = parsed.options;
  const workers = o.workers ?? defaultWorkers(o);
  // Killing a server of someone's deployment has to be asked for: --kill-cmd.
  const failover = wants(o, 'failover') && (o.route === undefined || o.killCmd !== undefined);
  if (o.scenario.includes('failover') && !failover) {
    process.stderr.write('cim bench: the failover scenario kills a server; against --route it needs --kill-cmd (a shell command that kills the server $CIM_BENCH_VICTIM)\n');
    return 2;
  }
  // The floor measures this machine with its own relays: it needs the Redis of a cluster started here.
  const floor = wants(o, 'floor') && o.route === undefined;
  if (o.scenario.includes('floor') && !floor) {
    process.stderr.write('cim bench: the floor scenario measures this machine with its own relays and the Redis of a cluster started here: run it without --route\n');
    return 2;
  }
  let zk: ZooKeeperInstance | undefined;
  let pc: ProcessCluster | undefined;
  let fleet: Fleet | undefined;
  const notes: string[] = [];
  const results: ScenarioResult[] = [];
  const load = loadavg()[0]!;
  try {
    const pids = new Map<string, number>();
    let metricsUrls: string[] = [];
    let routeUrl = o.route;
    if (!routeUrl) {
      zk = await startZooKeeper({ nodes: 1 });
      const profiling = o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProf}`] : [];
      if (o.cpuProf) mkdirSync(o.cpuProf, { recursive: true });
      // The same `cim` that runs this command runs the cluster (sources or dist/).
      pc = await startProcessCluster({
        cim: [process.execPath, ...profiling, process.argv[1]!],
        zkConnect: zk.connect,
        servers: o.servers,
        logLevel: 'info', // the cluster helper waits for the 'started' info line
        // --auth cim: CIM's open login (no passwords), so that the CIM-only scenario can run as CIM's clients do.
        // --max-connections-per-address 0: every simulated client comes from 127.0.0.1 (after a failover, all on one server).
        serverArgs: ['--max-msg-rate', String(o.maxMsgRate), '--auth', 'cim', '--max-connections-per-address', '0'],
        routeArgs: ['--register-rate-limit', '0', '--login-rate-limit', '0', '--auth', 'cim'], // all users come from this one address
        // connections: live memory is measured after full GCs forced through the servers' inspectors (bench/full-gc.ts).
        inspectServers: wants(o, 'connections'),
      });
      routeUrl = pc.routeUrl;
      pids.set('route', pc.route.process.pid!);
      pc.servers.forEach((s, i) => pids.set(`server-${i + 1}`, s.process.pid!));
      pids.set('redis', pc.redis.process.pid!);
      metricsUrls = pc.servers.map((s) => `http://127.0.0.1:${s.httpPort}/metrics`);
      notes.push(`cluster: ${o.servers} cim-servers + 1 cim-route + redis-server as separate processes, ZooKeeper standalone; load from ${workers} worker process${workers === 1 ? '' : 'es'}`);
      notes.push(`servers run with --max-msg-rate ${o.maxMsgRate} (${o.maxMsgRate === 0 ? 'unlimited' : `${o.maxMsgRate}/s per connection`}; the server default is 100 frames/s per connection), --auth cim (no passwords or tokens) and --max-connections-per-address 0 (all clients share one address)`);
    } else {
      notes.push(`existing deployment at ${routeUrl}: cluster CPU not measured; servers' --max-msg-rate applies (default 100 frames/s per connection)`);
    }
    const cluster: Cluster = { routeUrl, pids };
    if (wants(o, 'failover') && !failover) notes.push('failover skipped: against --route it needs --kill-cmd');
    if (wants(o, 'floor') && !floor) notes.push('floor skipped: it measures this machine, without --route');
    const started = await Fleet.start(workers, o.generatorNice);
    fleet = started.fleet;
    notes.push(started.niced ? `generator at nice +${o.generatorNice}${o.generatorNice > 0 ? ' (relative to the bench): the cluster runs first where they share cores' : ''}` : `generator at the bench's priority: nice +${o.generatorNice} was refused by the OS`);
    const tag = Date.now().toString(36);
    const names = (kind: string, n: number) => Array.from({ length: n }, (_, i) => `bench-${tag}-${kind}-${i}`);
    const step = (label: string) => process.stderr.write(`${label}…\n`);

    if (wants(o, 'login')) {
      step(`login: ${o.users} accounts`);
      results.push(await benchLogin(fleet, cluster, names('l', o.users), o.concurrency));
    }
    let users: ConnectedUser[] = [];
    const needNative = wants(o, 'p2p') || wants(o, 'group') || wants(o, 'connections');
    if (needNative) {
      step(`connecting ${o.users} users`);
      const urlsKnown = metricsUrls.length > 0;
      const inspectors = pc?.servers.flatMap((s) => (s.inspectorUrl ? [s.inspectorUrl] : [])) ?? [];
      // V8 heap in use right after a full GC in every server: live objects only.
      const liveHeap = async () => (await Promise.all(inspectors.map(collectGarbage)), (await serverMemory(metricsUrls)).heap);
      const liveBefore = urlsKnown && wants(o, 'connections') && inspectors.length > 0 ? await liveHeap() : undefined;
      const idleStart = urlsKnown && wants(o, 'connections') ? await serverMemory(metricsUrls) : undefined;
      if (idleStart) await new Promise((r) => setTimeout(r, IDLE_BASELINE_MS));
      const before = urlsKnown ? await serverMemory(metricsUrls) : undefined;
      const c = await connectUsers(fleet, cluster, 'native', names('n', o.users), o.concurrency);
      users = c.users;
      results.push(c.result);
      if (!urlsKnown) metricsUrls = [...new Set(users.map((u) => u.server))].flatMap((s) => { const a = parseServerAddress(s); return a ? [`http://${a.host}:${a.httpPort}/metrics`] : []; });
      if (wants(o, 'connections') && before && idleStart) {
        // Idle for a moment so that login garbage is collected by V8's own schedule (no forced GC in the servers).
        await new Promise((r) => setTimeout(r, 3000));
        const after = await serverMemory(metricsUrls);
        // Then --duration seconds of heartbeats only (a PING every 10 s per client, CIM's): CPU above the servers' own at rest.
        await new Promise((r) => setTimeout(r, o.duration * 1000));
        const held = await serverMemory(metricsUrls);
        const n = users.length;
        // After the CPU window: the forced GCs must not count as heartbeat work.
        const live = liveBefore === undefined ? undefined : ((await liveHeap()) - liveBefore) / n;
        const liveText = live === undefined ? '' : `, **${(live / 1024).toFixed(1)} KiB live heap** after a full GC`;
        const restPerS = (before.cpuSeconds - idleStart.cpuSeconds) / (IDLE_BASELINE_MS / 1000);
        const heartbeatUs = (((held.cpuSeconds - after.cpuSeconds) / o.duration - restPerS) / n) * 1e6;
        results.push({
          scenario: 'connections',
          description: `${n} idle authenticated WebSocket clients over ${metricsUrls.length} servers (RSS and V8 heap in use from /metrics, no forced GC; live heap after full GCs through the servers' inspectors), then ${o.duration} s of heartbeats only`,
          summary: `**${((after.rss - before.rss) / n / 1024).toFixed(1)} KiB RSS** and ${((after.heap - before.heap) / n / 1024).toFixed(1)} KiB heap in use${liveText} per connection; servers total ${(after.rss / 2 ** 20).toFixed(0)} MiB RSS; heartbeats **${heartbeatUs.toFixed(1)} µs CPU per connection-second** (servers at rest: ${(restPerS * 1000).toFixed(0)} ms CPU/s)`,
          numbers: { connections: n, rssBytesPerConnection: round((after.rss - before.rss) / n, 0), heapBytesPerConnection: round((after.heap - before.heap) / n, 0), ...(live === undefined ? {} : { liveHeapBytesPerConnection: round(live, 0) }), rssBytesTotal: after.rss, heapBytesTotal: after.heap, heartbeatCpuMicrosPerConnectionSecond: round(heartbeatUs, 2), serversRestCpuPerSecond: round(restPerS, 4) },
          clusterCpu: {},
          generatorCpu: NaN,
        });
      }
    }
    if (wants(o, 'p2p')) {
      step('p2p');
      results.push(await benchP2p(fleet, cluster, users, { kind: 'native', rate: o.rate, durationS: o.duration, warmupS: o.warmup, window: o.window, drainS: o.drain, receipts: o.receipts }));
    }
    if (wants(o, 'group')) {
      step('group');
      results.push(await benchGroup(fleet, cluster, users, { rate: o.groupRate, durationS: o.duration, drainS: o.drain }));
    }
    if (wants(o, 'p2p-cim')) {
      step(`connecting ${o.cimUsers} CIM users`);
      const c = await connectUsers(fleet, cluster, 'cim', names('c', o.cimUsers), o.concurrency);
      results.push(c.result);
      // CIM's clients get no LOGIN_RESPONSE: wait until the servers count them as logged in.
      const expected = users.length + c.users.length;
      const deadline = now() + 30_000;
      while ((await loggedInUsers(metricsUrls)) < expected && now() < deadline) await new Promise((r) => setTimeout(r, 100));
      step('p2p-cim');
      results.push(await benchP2p(fleet, cluster, c.users, { kind: 'cim', rate: o.rate, durationS: o.duration, warmupS: o.warmup, window: o.window, drainS: o.drain, receipts: o.receipts }));
    }
    if (floor) {
      step(`floor: ${o.users} users on two relays`);
      results.push(await benchFloor({ redisUrl: pc!.redisUrl, redisPid: pc!.redis.process.pid!, users: o.users, rate: o.rate, window: o.window, durationS: o.duration, warmupS: o.warmup, drainS: o.drain, receipts: o.receipts, generatorNice: o.generatorNice }));
    }
    if (failover) {
      // Last: it kills a server.
      step(`failover: ${o.failoverUsers} clients`);
      results.push(await benchFailover(fleet, cluster, names('f', o.failoverUsers), {
        rate: o.rate,
        warmupS: o.duration,
        drainS: o.drain,
        concurrency: o.concurrency,
        kill: async (address) => {
          if (o.killCmd !== undefined) return runKillCommand(o.killCmd, address);
          const server = pc!.servers.find((s) => s.address === address);
          if (!server) throw new Error(`failover: ${address} is not a server this bench started`);
          await server.kill('SIGKILL');
        },
      }));
    }
    const perSender = results.find((r) => r.scenario === 'p2p')?.numbers;
    if (perSender && o.window === 0 && o.rate / (perSender['senders'] ?? 1) > (o.route ? 100 : o.maxMsgRate || Infinity)) {
      notes.push(`warning: ${(o.rate / perSender['senders']!).toFixed(0)} messages/s per sender exceeds the servers' per-connection limit: expect 7400 refusals`);
    }
    await fleet.close();
    fleet = undefined;
    let profiles: string[] = [];
    if (o.cpuProf && pc) {
      // A CPU profile is written when the process exits: stop the processes gracefully first.
      await Promise.all([pc.route.kill('SIGTERM'), ...pc.servers.map((s) => s.kill('SIGTERM'))]);
      profiles = summariseProfiles(o.cpuProf, 25);
    }
    const machine = { cores: cpus().length, cpu: cpus()[0]?.model ?? '', memoryGiB: round(totalmem() / 2 ** 30, 1), node: process.version, loadAverageBefore: round(load, 2) };
    console.log(`cim bench ${argv.join(' ')}\nmachine: ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, load average ${machine.loadAverageBefore} before the run\n${notes.join('\n')}\n`);
    console.log(formatTable(results));
    if (profiles.length > 0) console.log(`\n${profiles.join('\n')}`);
    if (o.out) writeFileSync(o.out, `${JSON.stringify({ command: `cim bench ${argv.join(' ')}`, at: new Date().toISOString(), machine, notes, results, profiles }, null, 2)}\n`);
    return 0;
  } finally {
    await fleet?.close();
    await pc?.stop();
    await zk?.stop();
  }
}
