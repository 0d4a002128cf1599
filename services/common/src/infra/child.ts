/**
 * Child processes for the launchers (`cim up`, `cim bench`) and every test harness: one way to start a
 * process, keep its last output lines, optionally log all of it to a file, and stop it for sure.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createWriteStream } from 'node:fs';

/** A child process that is killed when its owner stops it, or when this process exits. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** The file all of stdout+stderr goes to, when one was asked for. */
  readonly logFile: string | undefined;
  /** Last `lines` lines (default: all kept, up to 200) of stdout+stderr, for error messages. */
  output(lines?: number): string;
  /** Resolves with the exit code (or signal) once the process has ended. */
  readonly exited: Promise<number | NodeJS.Signals>;
  /** The exit code (or signal) once the process has ended, else undefined. */
  exitStatus(): number | NodeJS.Signals | undefined;
  /** Sends `signal` (default SIGTERM) and waits for the exit; SIGKILL after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export type StartOptions = SpawnOptions & {
  /** called with every complete output line */
  onLine?: (line: string) => void;
  /** appends all of stdout+stderr to this file */
  logFile?: string;
};

const KEPT_LINES = 200;
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort: never leave a redis-server or ZooKeeper JVM behind, even when the owner crashes.
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/** @throws when the command cannot be started (e.g. it does not exist) */
export function startProcess(name: string, command: string, args: readonly string[], options: StartOptions = {}): ManagedProcess {
  installExitHook();
  const { onLine, logFile, ...spawnOptions } = options;
  const log = logFile === undefined ? undefined : createWriteStream(logFile, { flags: 'a' });
  log?.on('error', () => undefined); // a full disk must not kill the owner; the in-memory lines remain
  const lines: string[] = [];
  // One partial line per pipe: stdout and stderr chunks interleave, and a line must never take in the other's bytes.
  const partials = { out: '', err: '' };
  const collect = (pipe: keyof typeof partials) => (chunk: Buffer): void => {
    const parts = (partials[pipe] + chunk.toString('utf8')).split('\n');
    partials[pipe] = parts.pop() ?? '';
    for (const line of parts) {
      log?.write(`${line}\n`);
      lines.push(line);
      if (lines.length > KEPT_LINES) lines.shift();
      onLine?.(line);
    }
  };
  const pending = () => [partials.out, partials.err].filter((p) => p !== '').join('\n');
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOptions });
  // A failed spawn also emits 'error'; without a listener that would crash the owner.
  child.on('error', (err) => collect('err')(Buffer.from(`spawn error: ${String(err)}\n`)));
  if (child.pid === undefined) {
    log?.end(`could not start ${command}\n`);
    throw new Error(`could not start ${name} (${command})`);
  }
  live.add(child);
  child.stdout?.on('data', collect('out'));
  child.stderr?.on('data', collect('err'));
  let status: number | NodeJS.Signals | undefined;
  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    child.on('exit', (code, signal) => {
      live.delete(child);
      status = signal ?? code ?? 0;
      resolve(status);
    });
  });
  // 'close' comes after both pipes have ended: all output is in the log by then.
  child.on('close', () => log?.end(pending()));
  return {
    name,
    pid: child.pid,
    child,
    logFile,
    output: (n = KEPT_LINES + 1) => [...lines, pending()].slice(-n).join('\n'),
    exited,
    exitStatus: () => status,
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
