import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startProcess, type ManagedProcess } from './child.ts';
import { freePort, waitUntil } from './ports.ts';

export interface RedisInstance {
  readonly url: string;
  readonly port: number;
  /** the current process (a new one after start()) */
  readonly process: ManagedProcess;
  /** Stops the server (SIGTERM: with persistence it writes its data first; SIGKILL: it does not). Keeps the data dir. */
  halt(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and data dir; resolves once it answers PING. */
  start(): Promise<void>;
  /** Stops it for good and removes its data. */
  stop(): Promise<void>;
}

export interface RedisServerOptions {
  readonly binary?: string;
  /** Append-only file with fsync on every write, so a restart keeps every acknowledged write. Default false. */
  readonly persistent?: boolean;
}

/** Starts a private redis-server on 127.0.0.1 and waits until it answers PING. */
export async function startRedisServer(o: RedisServerOptions = {}): Promise<RedisInstance> {
  const dir = await mkdtemp(join(tmpdir(), 'cim-redis-'));
  const port = await freePort();
  const persistence = o.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--daemonize', 'no', '--dir', dir];
  let proc = startProcess('redis-server', o.binary ?? 'redis-server', args);
  await waitForPing(port, () => proc);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get process() {
      return proc;
    },
    async halt(signal: NodeJS.Signals = 'SIGTERM') {
      await proc.stop(signal);
    },
    async start() {
      if (proc.child.exitCode === null && proc.child.signalCode === null) return;
      proc = startProcess('redis-server', o.binary ?? 'redis-server', args);
      await waitForPing(port, () => proc);
    },
    async stop() {
      await proc.stop('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves once the redis-server (or sentinel) on `port` answers PING; fails when `current()` exited. */
export async function waitForPing(port: number, current: () => ManagedProcess): Promise<void> {
  const probe = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined); // refused connections are expected until the server listens
  try {
    await waitUntil(
      `redis-server on port ${port}`,
      async () => {
        const proc = current();
        if (proc.child.exitCode !== null) throw new Error(`redis-server exited: ${proc.output()}`);
        try {
          if (probe.status !== 'ready') await probe.connect();
          // LOADING while an append-only file is read back: not ready yet.
          return (await probe.ping()) === 'PONG' ? true : undefined;
        } catch {
          probe.disconnect();
          return undefined;
        }
      },
      15_000,
      20,
    );
  } finally {
    probe.disconnect();
  }
}
