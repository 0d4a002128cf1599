/**
 * Latency histograms that worker processes fill and the parent merges (log-linear buckets: 1 µs
 * resolution near zero, ≤ 1 % relative error above), plus CPU accounting of processes.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** Wall-clock ms comparable across processes on one host. */
export const now = (): number => performance.timeOrigin + performance.now();

const SUB_BUCKETS = 128; // per power of two: ≤ 0.8 % relative error
const MIN_MS = 0.001;

/** Bucket counts keyed by index; serialisable as a plain object for IPC. */
export type HistogramData = Record<number, number>;

export class Histogram {
  readonly counts = new Map<number, number>();
  count = 0;
  max = 0;

  record(ms: number): void {
    if (!Number.isFinite(ms)) return;
    const v = Math.max(ms, MIN_MS);
    const exp = Math.floor(Math.log2(v / MIN_MS));
    const sub = Math.floor((v / (MIN_MS * 2 ** exp) - 1) * SUB_BUCKETS);
    const i = exp * SUB_BUCKETS + sub;
    this.counts.set(i, (this.counts.get(i) ?? 0) + 1);
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  toData(): { counts: HistogramData; max: number } {
    return { counts: Object.fromEntries(this.counts), max: this.max };
  }

  merge(data: { counts: HistogramData; max: number }): void {
    for (const [k, n] of Object.entries(data.counts)) {
      const i = Number(k);
      this.counts.set(i, (this.counts.get(i) ?? 0) + n);
      this.count += n;
    }
    this.max = Math.max(this.max, data.max);
  }

  /** Upper edge of the bucket holding quantile q (max for q = 1); NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const target = Math.ceil(q * this.count);
    let seen = 0;
    for (const i of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(i)!;
      if (seen >= target) {
        const exp = Math.floor(i / SUB_BUCKETS);
        const upper = MIN_MS * 2 ** exp * (1 + ((i % SUB_BUCKETS) + 1) / SUB_BUCKETS);
        return Math.min(upper, this.max);
      }
    }
    return this.max;
  }

  summary(): LatencySummary {
    return { count: this.count, p50: this.quantile(0.5), p90: this.quantile(0.9), p99: this.quantile(0.99), p999: this.quantile(0.999), max: this.count ? this.max : NaN };
  }
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** CPU seconds used so far by this process. */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** CPU seconds used so far by one process (Linux /proc); NaN when it is gone. */
export function procCpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks
  } catch {
    return NaN;
  }
}

/** Resident set size in bytes (Linux /proc); NaN when the process is gone. */
export function procRssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Named processes whose CPU is measured over a phase. */
export class CpuMeter {
  readonly #pids: ReadonlyMap<string, number>;
  #start = new Map<string, number>();
  #t0 = 0;

  constructor(pids: ReadonlyMap<string, number>) {
    this.#pids = pids;
  }

  start(): void {
    this.#t0 = now();
    this.#start = new Map([...this.#pids].map(([name, pid]) => [name, procCpuSeconds(pid)]));
  }

  /** Cores used by each process since start() (CPU seconds per wall second). */
  cores(): Record<string, number> {
    const seconds = (now() - this.#t0) / 1000;
    const out: Record<string, number> = {};
    for (const [name, pid] of this.#pids) out[name] = round((procCpuSeconds(pid) - this.#start.get(name)!) / seconds, 3);
    return out;
  }
}

export const round = (v: number, digits = 2): number => (Number.isFinite(v) ? Number(v.toFixed(digits)) : NaN);
