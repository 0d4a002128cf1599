/**
 * A real local cluster for integration tests: a private redis-server, ZooKeeper (the shared one
 * from global setup under a unique root, or one given), N cim-servers and one cim-route as child
 * processes running the real `cim` executable. Everything binds to 127.0.0.1 on ports the OS picks.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { startProcess, type ManagedProcess } from '../../services/common/src/infra/child.ts';
import { startRedisServer, type RedisInstance } from '../../services/common/src/infra/redis-server.ts';
import { waitUntil } from '../../services/common/src/infra/ports.ts';

export const CIM_MAIN = fileURLToPath(new URL('../../services/cli/src/main.ts', import.meta.url));
const START_TIMEOUT_MS = 30_000;

export interface ServerHandle {
  /** host:tcpPort:httpPort, as registered in ZooKeeper */
  readonly address: string;
  readonly tcpPort: number;
  readonly httpPort: number;
  readonly process: ManagedProcess;
  /** Sends the signal (default SIGKILL) and waits for the process to end. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface RouteHandle {
  readonly url: string;
  readonly process: ManagedProcess;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface ClusterOptions {
  servers?: number;
  heartbeatTimeoutSec?: number;
  loginTimeoutSec?: number;
  authSecret?: string;
  /** ZooKeeper connect string; defaults to the shared one from global setup */
  zkConnect?: string;
  strategy?: string;
  /** ms; short so that a killed server leaves the selection quickly */
  zkSessionTimeoutMs?: number;
  presenceTtlSec?: number;
}

export interface TestCluster {
  readonly routeUrl: string;
  readonly redisUrl: string;
  readonly zkConnect: string;
  readonly zkRoot: string;
  readonly servers: ServerHandle[];
  readonly route: RouteHandle;
  readonly redis: RedisInstance;
  addServer(): Promise<ServerHandle>;
  /** Resolves once the route sees exactly `count` live servers. */
  waitForServers(count: number): Promise<void>;
  stop(): Promise<void>;
}

/** Runs `cim <args>` and resolves with the first JSON log line matching `msg`. */
function spawnCim(name: string, args: string[], readyMsg: string): Promise<{ process: ManagedProcess; line: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const proc = startProcess(name, process.execPath, [CIM_MAIN, ...args], {
      onLine: (line) => {
        if (settled || !line.startsWith('{')) return;
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          if (parsed['msg'] === readyMsg) {
            settled = true;
            resolve({ process: proc, line: parsed });
          }
        } catch {
          // not a log line
        }
      },
    });
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      void proc.stop('SIGKILL');
      reject(new Error(`${name} did not log "${readyMsg}" within ${START_TIMEOUT_MS} ms:\n${proc.output()}`));
    }, START_TIMEOUT_MS);
    void proc.exited.then((code) => {
      clearTimeout(timer);
      if (!settled) {
        settled = true;
        reject(new Error(`${name} exited (${code}) before it was ready:\n${proc.output()}`));
      }
    });
  });
}

export async function startCluster(options: ClusterOptions = {}): Promise<TestCluster> {
  const zkConnect = options.zkConnect ?? inject('zkConnect');
  const zkRoot = `/cim-test-${randomBytes(6).toString('hex')}`;
  const redis = await startRedisServer();
  const servers: ServerHandle[] = [];
  let route: RouteHandle | undefined;
  const common = ['--zk-connect', zkConnect, '--zk-root', zkRoot, '--zk-session-timeout', String(options.zkSessionTimeoutMs ?? 2000), '--redis-url', redis.url, '--log-level', 'info'];
  if (options.authSecret) common.push('--auth-secret', options.authSecret);

  let serial = 0;
  const addServer = async (): Promise<ServerHandle> => {
    const args = ['server', ...common, '--host', '127.0.0.1', '--advertise-host', '127.0.0.1', '--tcp-port', '0', '--http-port', '0', '--heartbeat-timeout', String(options.heartbeatTimeoutSec ?? 30), '--login-timeout', String(options.loginTimeoutSec ?? 5), '--presence-ttl', String(options.presenceTtlSec ?? 30), '--shutdown-timeout', '3'];
    const { process: proc, line } = await spawnCim(`cim-server-${++serial}`, args, 'cim-server started');
    const handle: ServerHandle = {
      address: String(line['server']),
      tcpPort: Number(line['tcpPort']),
      httpPort: Number(line['httpPort']),
      process: proc,
      kill: (signal: NodeJS.Signals = 'SIGKILL') => proc.stop(signal, 10_000),
    };
    servers.push(handle);
    return handle;
  };

  const stop = async () => {
    await Promise.all([route?.kill('SIGKILL'), ...servers.map((s) => s.kill('SIGKILL'))]);
    await redis.stop();
  };

  try {
    for (let i = 0; i < (options.servers ?? 2); i++) await addServer();
    const routeArgs = ['route', ...common, '--host', '127.0.0.1', '--port', '0', '--strategy', options.strategy ?? 'round-robin'];
    const { process: proc, line } = await spawnCim('cim-route', routeArgs, 'cim-route started');
    route = { url: `http://127.0.0.1:${Number(line['port'])}`, process: proc, kill: (signal: NodeJS.Signals = 'SIGKILL') => proc.stop(signal, 10_000) };
    const routeUrl = route.url;
    const waitForServers = async (count: number) => {
      await waitUntil(
        `the route to see ${count} live servers`,
        async () => {
          const metrics = await fetch(`${routeUrl}/metrics`).then((r) => r.text());
          const live = /^cim_route_live_servers(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1];
          return Number(live) === count ? true : undefined;
        },
        START_TIMEOUT_MS,
      );
    };
    await waitForServers(servers.length);
    return { routeUrl, redisUrl: redis.url, zkConnect, zkRoot, servers, route, redis, addServer, waitForServers, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
