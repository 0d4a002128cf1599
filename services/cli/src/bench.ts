/**
 * `cim bench`: load against a cluster of real processes on this machine (started here unless
 * --route names one): logins, cross-server private messages (open loop, latency measured from the
 * sender's clock to the receiver's, same host), and group fan-out. Prints a markdown report.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Command } from '../../common/src/codec.ts';
import { startProcessCluster, type ProcessCluster } from '../../common/src/infra/process-cluster.ts';
import { startZooKeeper, type ZooKeeperInstance } from '../../common/src/infra/zookeeper.ts';
import { parseCommandLine, type ParsedOptions } from '../../common/src/options.ts';
import { connectBenchUser, sendInBand, type BenchUser } from './bench-client.ts';

const benchOptionSpecs = {
  route: { type: 'string', optional: true, description: 'route URL of a running cluster (default: start one here: ZooKeeper, Redis, 2 servers, 1 route)' },
  scenario: { type: 'string', default: 'all', choices: ['all', 'login', 'p2p', 'group'], description: 'what to measure' },
  users: { type: 'int', default: 1000, min: 4, max: 15_000, description: 'connected users' },
  concurrency: { type: 'int', default: 50, min: 1, description: 'logins in flight at once' },
  rate: { type: 'int', default: 5000, min: 1, description: 'private messages per second (open loop), cross-server pairs' },
  groupRate: { type: 'int', default: 20, min: 1, description: 'group messages per second, each to every other connected user' },
  duration: { type: 'number', default: 10, min: 1, description: 'seconds per message scenario' },
} as const;
type BenchOptions = ParsedOptions<typeof benchOptionSpecs>;

const now = () => performance.timeOrigin + performance.now();

function percentiles(values: number[]): { p50: number; p99: number; p999: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => (s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))]!);
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: s.at(-1) ?? NaN };
}
const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(v < 10 ? 2 : 1)} ms` : 'n/a');

/** CPU seconds used so far by this process (the load generator). */
const selfCpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** CPU seconds used so far by the given processes (Linux /proc). */
function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime + stime
    } catch {
      // process gone
    }
  }
  return ticks / 100;
}

async function inBatches<T>(count: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

interface Report {
  lines: string[];
}

async function benchLogins(routeUrl: string, o: BenchOptions, tag: string, report: Report, pids: number[]): Promise<BenchUser[]> {
  const latencies: number[] = [];
  const cpu0 = cpuSeconds(pids);
  const gen0 = selfCpuSeconds();
  const t0 = now();
  const users = await inBatches(o.users, o.concurrency, async (i) => {
    const started = now();
    const user = await connectBenchUser(routeUrl, `bench-${tag}-${i}`);
    latencies.push(now() - started);
    return user;
  });
  const elapsed = (now() - t0) / 1000;
  const p = percentiles(latencies);
  report.lines.push(
    `| logins (register + /login + WebSocket + LOGIN_REQUEST), ${o.concurrency} in flight | ${o.users} users in ${elapsed.toFixed(2)} s = **${(o.users / elapsed).toFixed(0)}/s** | p50 ${ms(p.p50)}, p99 ${ms(p.p99)}, max ${ms(p.max)} | ${((cpuSeconds(pids) - cpu0) / elapsed).toFixed(2)} | ${((selfCpuSeconds() - gen0) / elapsed).toFixed(2)} |`,
  );
  return users;
}

async function benchPrivate(users: BenchUser[], o: BenchOptions, report: Report, pids: number[]): Promise<void> {
  // Pair users on different servers so every message crosses servers.
  const servers = [...new Set(users.map((u) => u.server))];
  const a = users.filter((u) => u.server === servers[0]);
  const b = users.filter((u) => u.server !== servers[0]);
  const pairs = Math.min(a.length, b.length);
  if (pairs === 0) throw new Error('private-message scenario needs users on two servers');
  const latencies: number[] = [];
  let received = 0;
  let acked = 0;
  for (const u of users) {
    u.onFrame = (f) => {
      if (f.cmd === Command.MESSAGE && f.reqMsg.startsWith('p|')) {
        latencies.push(now() - Number(f.reqMsg.split('|')[1]));
        received++;
      } else if (f.cmd === Command.MESSAGE_ACK) acked++;
    };
  }
  let sent = 0;
  const total = Math.round(o.rate * o.duration);
  const cpu0 = cpuSeconds(pids);
  const gen0 = selfCpuSeconds();
  const t0 = now();
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((now() - t0) / 1000) * o.rate));
      for (; sent < due; sent++) {
        const k = sent % (pairs * 2);
        const [from, to] = k < pairs ? [a[k]!, b[k]!] : [b[k - pairs]!, a[k - pairs]!];
        sendInBand(from, `p|${now()}`, to.userId);
      }
      if (sent >= total) {
        clearInterval(tick);
        resolve();
      }
    }, 5);
  });
  const sendSeconds = (now() - t0) / 1000;
  const deadline = now() + 10_000;
  while ((received < sent || acked < sent) && now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const cpu = (cpuSeconds(pids) - cpu0) / ((now() - t0) / 1000);
  const gen = (selfCpuSeconds() - gen0) / ((now() - t0) / 1000);
  const p = percentiles(latencies);
  report.lines.push(
    `| private messages, cross-server, in-band with ack, ${pairs * 2} senders, target ${o.rate}/s for ${o.duration} s | sent ${sent} (${(sent / sendSeconds).toFixed(0)}/s), received ${received}, acked ${acked}, **lost ${sent - received}** | p50 ${ms(p.p50)}, p99 ${ms(p.p99)}, p99.9 ${ms(p.p999)}, max ${ms(p.max)} | ${cpu.toFixed(2)} | ${gen.toFixed(2)} |`,
  );
}

async function benchGroup(users: BenchUser[], o: BenchOptions, report: Report, pids: number[]): Promise<void> {
  const sender = users[0]!;
  const members = users.length - 1;
  const firstAt = new Map<number, number>();
  const count = new Map<number, number>();
  const lastLatency = new Map<number, number>();
  for (const u of users) {
    u.onFrame = (f) => {
      if (f.cmd !== Command.MESSAGE || !f.reqMsg.startsWith('g|')) return;
      const [, seqText, sentText] = f.reqMsg.split('|');
      const seq = Number(seqText);
      firstAt.set(seq, firstAt.get(seq) ?? now());
      count.set(seq, (count.get(seq) ?? 0) + 1);
      if (count.get(seq) === members) lastLatency.set(seq, now() - Number(sentText));
    };
  }
  const total = Math.round(o.groupRate * o.duration);
  const cpu0 = cpuSeconds(pids);
  const gen0 = selfCpuSeconds();
  const t0 = now();
  for (let seq = 0; seq < total; seq++) {
    const due = t0 + (seq * 1000) / o.groupRate;
    const wait = due - now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    sendInBand(sender, `g|${seq}|${now()}`);
  }
  const deadline = now() + 15_000;
  const delivered = () => [...count.values()].reduce((x, y) => x + y, 0);
  while (delivered() < total * members && now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const seconds = (now() - t0) / 1000;
  const cpu = (cpuSeconds(pids) - cpu0) / seconds;
  const gen = (selfCpuSeconds() - gen0) / seconds;
  const p = percentiles([...lastLatency.values()]);
  report.lines.push(
    `| group messages to ${members} online members, ${o.groupRate}/s for ${o.duration} s | ${delivered()} of ${total * members} deliveries (${(delivered() / seconds).toFixed(0)}/s), **lost ${total * members - delivered()}** | time to last member: p50 ${ms(p.p50)}, p99 ${ms(p.p99)}, max ${ms(p.max)} | ${cpu.toFixed(2)} | ${gen.toFixed(2)} |`,
  );
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseCommandLine(benchOptionSpecs, argv, env, { command: 'cim bench', summary: 'Measures logins, cross-server private messages and group fan-out on this machine.' });
  if (!parsed.ok) return parsed.exitCode;
  const o = parsed.options;
  let zk: ZooKeeperInstance | undefined;
  let cluster: ProcessCluster | undefined;
  const users: BenchUser[] = [];
  try {
    let routeUrl = o.route;
    let pids: number[] = [];
    if (!routeUrl) {
      zk = await startZooKeeper({ nodes: 1 });
      // The same `cim` that runs this command runs the cluster (sources or dist/).
      cluster = await startProcessCluster({ cim: [process.execPath, process.argv[1]!], zkConnect: zk.connect, servers: 2, logLevel: 'info', routeArgs: ['--register-rate-limit', '0', '--login-rate-limit', '0'] }); // all users come from this one address
      routeUrl = cluster.routeUrl;
      pids = [cluster.route.process.pid, ...cluster.servers.map((s) => s.process.pid), cluster.redis.process.pid];
    }
    const report: Report = { lines: ['| scenario | result | latency | cluster CPU (cores) | generator CPU (cores) |', '|---|---|---|---|---|'] };
    const tag = Date.now().toString(36);
    console.error(`connecting ${o.users} users…`);
    users.push(...(await benchLogins(routeUrl, o, tag, report, pids)));
    if (o.scenario === 'all' || o.scenario === 'p2p') {
      console.error('private messages…');
      await benchPrivate(users, o, report, pids);
    }
    if (o.scenario === 'all' || o.scenario === 'group') {
      console.error('group messages…');
      await benchGroup(users, o, report, pids);
    }
    console.log(`cim bench ${argv.join(' ')}\n${pids.length > 0 ? 'cluster: 2 cim-servers + 1 cim-route + redis-server as separate processes, ZooKeeper standalone; load generator in this process\n' : ''}`);
    console.log(report.lines.join('\n'));
    return 0;
  } finally {
    for (const u of users) u.close();
    await cluster?.stop();
    await zk?.stop();
  }
}
