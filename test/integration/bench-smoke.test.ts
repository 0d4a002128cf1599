/**
 * `cim bench` works end to end: one tiny run of every scenario (the floor's relays included) against a cluster the bench starts itself
 * (ZooKeeper, redis-server, 2 servers, 1 route, 2 generator workers at a lower priority), as a child process like `make bench`.
 * Counts only, no timing assertions: this box's speed is not what the suite judges.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const MAIN = join(import.meta.dirname, '../../services/cli/src/main.ts');
const dir = mkdtempSync(join(tmpdir(), 'cim-bench-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Result {
  scenario: string;
  numbers: Record<string, number>;
  latency?: { count: number };
  warmupLatency?: { count: number };
  clusterCpu: Record<string, number>;
}

it('runs every scenario and reports complete, loss-free counts', async () => {
  const out = join(dir, 'bench.json');
  const users = 12;
  const failoverUsers = 20;
  const args = [MAIN, 'bench', '--users', String(users), '--cim-users', '8', '--failover-users', String(failoverUsers), '--rate', '120', '--warmup', '0.5', '--duration', '1', '--group-rate', '4', '--drain', '20', '--workers', '2', '--out', out];
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, args, { timeout: 150_000, maxBuffer: 16 * 1024 * 1024 }, (err, so, se) => (err ? reject(new Error(`${err.message}\n${se}`)) : resolve(so)));
  });
  expect(stdout).toContain('| scenario |');
  const report = JSON.parse(readFileSync(out, 'utf8')) as { results: Result[]; machine: { cores: number }; notes: string[] };
  expect(report.machine.cores).toBeGreaterThan(0);
  expect(report.notes.join('\n')).toContain('--max-msg-rate 0');
  // The generator yields the cores to the cluster by default (--generator-nice 10).
  expect(report.notes.join('\n')).toContain('generator at nice +10');
  const by = new Map(report.results.map((r) => [r.scenario, r]));
  expect([...by.keys()].sort()).toEqual(['connect-cim', 'connect-native', 'connections', 'failover', 'floor', 'group', 'login', 'p2p', 'p2p-cim']);

  expect(by.get('login')!.numbers).toMatchObject({ logins: users, failed: 0 });
  expect(by.get('login')!.clusterCpu['route']).toBeGreaterThanOrEqual(0);
  expect(by.get('connect-native')!.numbers).toMatchObject({ users, failed: 0 });
  expect(by.get('connections')!.numbers['connections']).toBe(users);
  // Heartbeat CPU is measured (a number; its size is a benchmark's business, not a test's).
  expect(Number.isFinite(by.get('connections')!.numbers['heartbeatCpuMicrosPerConnectionSecond'])).toBe(true);
  // The live heap is measured too: full GCs forced through the servers' inspectors answered.
  expect(Number.isFinite(by.get('connections')!.numbers['liveHeapBytesPerConnection'])).toBe(true);

  // 0.5 s of warm-up and 1 s measured at 120/s: 180 messages, each counted; the warm-up's latency is kept apart.
  for (const name of ['p2p', 'p2p-cim']) {
    const r = by.get(name)!;
    expect(r.numbers['sent'], name).toBe(180);
    expect(r.numbers, name).toMatchObject({ received: 180, acked: 180, ackFailed: 0, lost: 0, duplicates: 0, warmupSeconds: 0.5 });
    expect(r.latency!.count + r.warmupLatency!.count, name).toBe(180);
    expect(r.warmupLatency!.count, name).toBeGreaterThan(0);
    expect(r.latency!.count, name).toBeGreaterThan(0);
  }
  expect(by.get('p2p')!.numbers['receipts']).toBe(180); // every message's DELIVERED receipt reached its sender
  // the floor's relays carried the same flow and load: every message, ACK and receipt, none twice
  const floor = by.get('floor')!;
  expect(floor.numbers).toMatchObject({ sent: 180, received: 180, acked: 180, receipts: 180, lost: 0, duplicates: 0, senders: users });
  expect(floor.latency!.count + floor.warmupLatency!.count).toBe(180);
  expect(Object.keys(by.get('floor')!.clusterCpu).sort()).toEqual(['redis', 'relay-1', 'relay-2']);
  expect(by.get('p2p-cim')!.numbers['offline']).toBe(0);

  const g = by.get('group')!.numbers;
  expect(g).toMatchObject({ messages: 4, expected: 4 * (users - 1), deliveries: 4 * (users - 1), lost: 0 });

  // failover (last: it killed the server holding the most of its clients): every dropped client came
  // back, and every message acknowledged SENT reached its receiver, live or replayed from the inbox.
  const f = by.get('failover')!.numbers;
  expect(f['clients']).toBe(failoverUsers);
  expect(f['victimClients']).toBeGreaterThanOrEqual(failoverUsers / 2);
  expect(f).toMatchObject({ disconnected: f['victimClients'], reconnected: f['victimClients'], lost: 0, ackFailed: 0 });
  expect(f['sent']).toBeGreaterThan(0);
  expect(f['acked']).toBeGreaterThan(0);
  expect(f['sent']).toBe(f['acked']! + f['unanswered']!);
  expect(f['received']).toBeGreaterThanOrEqual(f['acked']!);
  // what the drain's SYNC brought first is split by cause (a timing split: no bound on the causes here)
  expect(f['syncInFlight']! + f['syncUnanswered']! + f['syncMissed']!).toBe(f['syncRecovered']);
  expect(f['reconnectLogins']).toBe(by.get('failover')!.latency!.count);
  expect(f['login9000']).toBeGreaterThanOrEqual(f['victimClients']!);
}, 180_000);

it('measures the private path without DELIVERED acknowledgements when asked (--no-receipts), from one default worker', async () => {
  const out = join(dir, 'bench-no-receipts.json');
  const args = [MAIN, 'bench', '--scenario', 'p2p', '--no-receipts', '--users', '6', '--rate', '60', '--duration', '1', '--drain', '20', '--out', out];
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, args, { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, _so, se) => (err ? reject(new Error(`${err.message}\n${se}`)) : resolve()));
  });
  const report = JSON.parse(readFileSync(out, 'utf8')) as { results: Array<Result & { description: string }>; notes: string[] };
  expect(report.notes.join('\n')).toContain('load from 1 worker process');
  const p2p = report.results.find((r) => r.scenario === 'p2p')!;
  expect(p2p.description).toContain('receivers do not acknowledge');
  // Every message stored, acknowledged SENT and delivered live; no receiver acknowledged, so no sender got a receipt.
  expect(p2p.numbers).toMatchObject({ sent: 60, acked: 60, received: 60, receipts: 0, lost: 0, duplicates: 0 });
}, 150_000);

it('refuses the failover scenario against an existing deployment without --kill-cmd', async () => {
  // Nothing listens there: the refusal comes before any connection.
  const args = [MAIN, 'bench', '--route', 'http://127.0.0.1:9', '--scenario', 'failover'];
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile(process.execPath, args, { timeout: 60_000 }, (err, _so, se) => resolve({ code: err ? (err as { code?: number }).code ?? null : 0, stderr: se }));
  });
  expect(code).toBe(2);
  expect(stderr).toContain('--kill-cmd');
}, 90_000);
