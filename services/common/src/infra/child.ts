import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** A child process that is killed when its owner stops it, or when this process exits. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Last lines of stdout+stderr, for error messages. */
  output(): string;
  /** Resolves with the exit code (or signal) once the process has ended. */
  readonly exited: Promise<number | NodeJS.Signals>;
  /** Sends `signal` (default SIGTERM) and waits for the exit; SIGKILL after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

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

export function startProcess(name: string, command: string, args: readonly string[], options: SpawnOptions & { onLine?: (line: string) => void } = {}): ManagedProcess {
  installExitHook();
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  live.add(child);
  const lines: string[] = [];
  let partial = '';
  const collect = (chunk: Buffer) => {
    partial += chunk.toString('utf8');
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      if (lines.length > 200) lines.shift();
      options.onLine?.(line);
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    child.on('exit', (code, signal) => {
      live.delete(child);
      resolve(signal ?? code ?? 0);
    });
  });
  return {
    name,
    pid: child.pid,
    child,
    output: () => [...lines, partial].join('\n'),
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
