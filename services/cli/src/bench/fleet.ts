/**
 * The parent's side of the load-generator processes: forks them, sends them commands, collects their
 * answers, and prints progress with an ETA on stderr while a phase runs.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { getPriority, setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { FromWorker, ToWorker } from './protocol.ts';
import { now, procCpuSeconds } from './stats.ts';

// Sources run as .ts (type stripping), the build as .js: the worker sits next to this module either way.
const WORKER = fileURLToPath(new URL(`./worker.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url));

type Of<T extends FromWorker['type']> = Extract<FromWorker, { type: T }>;

/** Clients one generator process holds at most: the box allows 20,000 open files per process. */
export const CLIENTS_PER_PROCESS = 19_000;

/**
 * Runs `pids` `nice` steps below this process's scheduling priority (as `nice -n`, capped at 19).
 * @returns false when the OS refused (the processes then keep their priority)
 */
export function lowerPriority(pids: readonly number[], nice: number): boolean {
  if (nice === 0) return true;
  const priority = Math.min(19, getPriority() + nice);
  try {
    for (const pid of pids) setPriority(pid, priority);
    return true;
  } catch {
    return false;
  }
}

export class Fleet {
  readonly workers: ChildProcess[];
  readonly #waiters: Array<Array<{ type: string; resolve(m: FromWorker): void; reject(e: Error): void }>>;
  readonly #progress: Array<{ done: number; received: number; acked: number }>;

  private constructor(workers: ChildProcess[]) {
    this.workers = workers;
    this.#waiters = workers.map(() => []);
    this.#progress = workers.map(() => ({ done: 0, received: 0, acked: 0 }));
    workers.forEach((w, i) => {
      w.on('message', (raw) => {
        const m = raw as FromWorker;
        if (m.type === 'progress') return void (this.#progress[i] = m);
        const waiters = this.#waiters[i]!;
        if (m.type === 'failed') {
          for (const x of waiters.splice(0)) x.reject(new Error(`bench worker ${i} failed: ${m.error}`));
          return;
        }
        const at = waiters.findIndex((x) => x.type === m.type);
        if (at >= 0) waiters.splice(at, 1)[0]!.resolve(m);
      });
      w.on('exit', (code) => {
        for (const x of this.#waiters[i]!.splice(0)) x.reject(new Error(`bench worker ${i} exited (${code})`));
      });
    });
  }

  /**
   * Forks `count` workers, `nice` steps below the parent's scheduling priority (as `nice -n`; 0 = the parent's).
   * Lower, the generator lets the cluster run first when they share the machine's cores, and takes what is left.
   * @returns the fleet, and whether the priority could be set (an OS may refuse it)
   */
  static async start(count: number, nice = 0): Promise<{ fleet: Fleet; niced: boolean }> {
    // No inherited --cpu-prof or inspector flags: the generator is not what is profiled.
    const workers = Array.from({ length: count }, () => fork(WORKER, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
      w.once('spawn', resolve);
      w.once('error', reject);
    })));
    const niced = lowerPriority(workers.map((w) => w.pid!), nice);
    return { fleet: new Fleet(workers), niced };
  }

  /** The workers' scheduling priorities (nice values), as the OS reports them. */
  priorities(): number[] {
    return this.workers.map((w) => getPriority(w.pid!));
  }

  /** Sends `message(i)` to every worker and resolves with each one's answer of type `answer`. */
  ask<T extends FromWorker['type']>(answer: T, message: (i: number) => ToWorker | undefined, label?: string, total?: number): Promise<Array<Of<T> | undefined>> {
    const stop = label ? this.#showProgress(label, total ?? 0) : () => undefined;
    const answers = this.workers.map((w, i) => {
      const m = message(i);
      if (m === undefined) return Promise.resolve(undefined);
      const p = new Promise<FromWorker>((resolve, reject) => this.#waiters[i]!.push({ type: answer, resolve, reject }));
      w.send(m);
      return p as Promise<Of<T>>;
    });
    return Promise.all(answers).finally(stop);
  }

  progress(): { done: number; received: number; acked: number } {
    return this.#progress.reduce((a, p) => ({ done: a.done + p.done, received: a.received + p.received, acked: a.acked + p.acked }), { done: 0, received: 0, acked: 0 });
  }

  /** CPU seconds used so far by the generator processes. */
  cpuSeconds(): number {
    return this.workers.reduce((s, w) => s + (w.pid ? procCpuSeconds(w.pid) : 0), 0);
  }

  /** Resets the counters shown by progress() (a new phase starts). */
  resetProgress(): void {
    this.#progress.fill({ done: 0, received: 0, acked: 0 });
  }

  #showProgress(label: string, total: number): () => void {
    const t0 = now();
    this.resetProgress();
    const timer = setInterval(() => {
      const p = this.progress();
      const elapsed = (now() - t0) / 1000;
      const eta = p.done > 0 && total > 0 ? ((total - p.done) * elapsed) / p.done : NaN;
      const extra = p.received > 0 || p.acked > 0 ? `, received ${p.received}, acked ${p.acked}` : '';
      process.stderr.write(`  ${label}: ${p.done}${total ? `/${total}` : ''}${extra}, ${elapsed.toFixed(0)} s${Number.isFinite(eta) ? `, ETA ${Math.max(0, eta).toFixed(0)} s` : ''}\n`);
    }, 2000);
    return () => clearInterval(timer);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => new Promise<void>((resolve) => {
      if (w.exitCode !== null || w.signalCode !== null) return resolve();
      const timer = setTimeout(() => w.kill('SIGKILL'), 3000);
      w.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      if (w.connected) w.send({ type: 'close' } satisfies ToWorker);
      else w.kill('SIGKILL');
    })));
  }
}
