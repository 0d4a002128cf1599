import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startProcess, type ManagedProcess } from './child.ts';
import { freePort, waitUntil } from './ports.ts';

export interface RedisInstance {
  readonly url: string;
  readonly port: number;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

/** Starts a private redis-server on 127.0.0.1 (no persistence) and waits until it answers PING. */
export async function startRedisServer(binary = 'redis-server'): Promise<RedisInstance> {
  const dir = await mkdtemp(join(tmpdir(), 'cim-redis-'));
  const port = await freePort();
  const proc = startProcess('redis-server', binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir]);
  const probe = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined); // refused connections are expected until the server listens
  try {
    await waitUntil(
      `redis-server on port ${port}`,
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`redis-server exited: ${proc.output()}`);
        try {
          if (probe.status !== 'ready') await probe.connect();
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
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    process: proc,
    async stop() {
      await proc.stop('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
