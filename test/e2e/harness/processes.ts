/**
 * Child processes for the e2e harness: every process writes to its own log file, is killed by whoever started it
 * (SIGTERM, then SIGKILL after a grace period), and its log tail is printed when it dies unexpectedly or a wait
 * fails, so a failing test shows why.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface Proc {
  name: string;
  child: ChildProcess;
  logFile: string;
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
  stop(graceMs?: number): Promise<number | null>;
  kill(): Promise<number | null>;
  tail(lines?: number): string;
  /** Exit code once the process has exited, else undefined. */
  exitCode(): number | null | undefined;
}

export function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  opts: { logDir: string; env?: NodeJS.ProcessEnv; cwd?: string },
): Proc {
  const logFile = join(opts.logDir, `${name}.log`);
  const out = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(command, args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Last resort when the test process exits without its teardown (a crash, ^C): never leave a process behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
  let code: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (c, signal) => {
      code = c ?? (signal ? -1 : null);
      resolve(code);
    });
    child.once('error', (err) => {
      out.write(`spawn error: ${String(err)}\n`);
      code = -1;
      resolve(-1);
    });
  });
  const tail = (lines = 40) => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };
  const stop = async (graceMs = 10_000) => {
    if (code !== undefined) return code;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const c = await exited;
    clearTimeout(timer);
    return c;
  };
  const kill = async () => {
    if (code !== undefined) return code;
    child.kill('SIGKILL');
    return exited;
  };
  return { name, child, logFile, exited, stop, kill, tail, exitCode: () => code };
}

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Thrown from a waitFor check to stop waiting at once (e.g. the awaited process died). */
export class WaitAborted extends Error {
  override name = 'WaitAborted';
}

/** Polls `check` until it returns a value other than undefined/false; fails with `describe()` on timeout. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number; describe?: () => string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      if (err instanceof WaitAborted) throw err;
      lastErr = err;
    }
    if (Date.now() > deadline) {
      const detail = opts.describe?.() ?? '';
      throw new Error(`timed out waiting for ${what}${lastErr ? ` (last error: ${String(lastErr)})` : ''}\n${detail}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}
