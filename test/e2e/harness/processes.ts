/**
 * The e2e harness's view of the one process harness (services/common/src/infra): every process logs to
 * `<logDir>/<name>.log`, is stopped by whoever started it (SIGTERM, then SIGKILL after a grace period), and
 * its output tail is at hand when it dies unexpectedly or a wait fails. Only the shapes differ from infra's:
 * exit codes as numbers (-1 for a signal) and waits that retry failing checks, which e2e tests rely on.
 */
import { join } from 'node:path';
import { startProcess as startManaged, type ManagedProcess } from '../../../services/common/src/infra/child.ts';
import { waitFor as waitForInfra, WaitAborted } from '../../../services/common/src/infra/wait.ts';

export { freePort } from '../../../services/common/src/infra/ports.ts';
export { WaitAborted };

export interface Proc {
  name: string;
  child: ManagedProcess['child'];
  logFile: string;
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
  stop(graceMs?: number): Promise<number | null>;
  kill(): Promise<number | null>;
  tail(lines?: number): string;
  /** Exit code once the process has exited, else undefined. */
  exitCode(): number | null | undefined;
}

/** A signal counts as exit code -1. */
const exitCode = (status: number | NodeJS.Signals): number => (typeof status === 'number' ? status : -1);

export function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  opts: { logDir: string; env?: NodeJS.ProcessEnv; cwd?: string },
): Proc {
  const logFile = join(opts.logDir, `${name}.log`);
  const p = startManaged(name, command, args, { env: opts.env ?? process.env, ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }), logFile });
  const exited = p.exited.then(exitCode);
  const stopWith = async (signal: NodeJS.Signals, graceMs?: number) => {
    await p.stop(signal, graceMs);
    return exited;
  };
  return {
    name,
    child: p.child,
    logFile,
    exited,
    stop: (graceMs = 10_000) => stopWith('SIGTERM', graceMs),
    kill: () => stopWith('SIGKILL'),
    tail: (lines = 40) => p.output(lines),
    exitCode: () => {
      const status = p.exitStatus();
      return status === undefined ? undefined : exitCode(status);
    },
  };
}

/** Polls `check` until it returns a value other than undefined/false; errors it throws count as "not yet". */
export function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number; describe?: () => string } = {},
): Promise<T> {
  return waitForInfra(what, check, { timeoutMs: opts.timeoutMs ?? 60_000, intervalMs: opts.intervalMs ?? 200, retryErrors: true, ...(opts.describe ? { describe: opts.describe } : {}) });
}
