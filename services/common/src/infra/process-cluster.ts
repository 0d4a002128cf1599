/**
 * A cluster of real `cim` processes on this machine: a private redis-server, N cim-servers and one
 * cim-route, on a given ZooKeeper under a unique root. Everything binds to 127.0.0.1 on ports the OS
 * picks; components report them in their first log line. Used by the integration tests and `cim bench`.
 */
import { randomBytes } from 'node:crypto';
import { startProcess, type ManagedProcess } from './child.ts';
import { startRedisServer, type RedisInstance } from './redis-server.ts';
import { waitUntil } from './ports.ts';
import { SERVER_NODE_OPTIONS } from './server-runtime-flags.ts';

const START_TIMEOUT_MS = 30_000;

export interface ProcessHandle {
  readonly process: ManagedProcess;
  /** Sends the signal (default SIGKILL) and waits for the process to end. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface ServerProcess extends ProcessHandle {
  /** host:tcpPort:httpPort, as registered in ZooKeeper */
  readonly address: string;
  readonly tcpPort: number;
  readonly httpPort: number;
  /** --internal-port as bound (pushes), when the server has one */
  readonly internalPort?: number;
  /** --metrics-port as bound, when the server has one */
  readonly metricsPort?: number;
  /** the V8 inspector's WebSocket URL, when the cluster was started with `inspectServers` */
  readonly inspectorUrl?: string;
}

export interface RouteProcess extends ProcessHandle {
  readonly url: string;
  /** --metrics-port as bound, when the route has one */
  readonly metricsPort?: number;
}

export interface ProcessClusterOptions {
  /** how to run `cim`: [executable, ...leading args], e.g. [process.execPath, '/path/to/main.ts'] */
  readonly cim: readonly string[];
  readonly zkConnect: string;
  readonly servers?: number;
  readonly heartbeatTimeoutSec?: number;
  readonly loginTimeoutSec?: number;
  /** shared by every component; default: a random one (pushes always need one), and --auth cim */
  readonly authSecret?: string;
  /** --auth of every component; default: 'password' with an authSecret, else 'cim' (CIM's open behaviour) */
  readonly auth?: 'cim' | 'password';
  readonly strategy?: string;
  /** ms; short so that a killed server leaves the selection quickly */
  readonly zkSessionTimeoutMs?: number;
  readonly presenceTtlSec?: number;
  readonly logLevel?: string;
  /** Redis with an fsynced append-only file, so restarting it loses no acknowledged write. */
  readonly persistentRedis?: boolean;
  /** Every component uses this Redis (e.g. a Redis Cluster's redis-cluster:// URL) instead of a private redis-server; its owner stops it. */
  readonly redisUrl?: string;
  /** Extra command-line flags for every cim-server / for the route. */
  readonly serverArgs?: readonly string[];
  readonly routeArgs?: readonly string[];
  /** Servers run with the V8 inspector on a free loopback port (`cim bench` forces full GCs through it to measure live memory). */
  readonly inspectServers?: boolean;
  /** For the harness's own calls to the route (a TLS route with a private CA needs one that trusts it). */
  readonly fetch?: typeof fetch;
}

export interface ProcessCluster {
  readonly routeUrl: string;
  readonly redisUrl: string;
  readonly zkConnect: string;
  readonly zkRoot: string;
  /** --auth-secret of every component (given or random): what a test's own pushes authenticate with */
  readonly authSecret: string;
  readonly servers: ServerProcess[];
  /** the current route process (a new one after restartRoute()) */
  readonly route: RouteProcess;
  /** The private redis-server (absent, and throwing on access, when the cluster was given `redisUrl`). */
  readonly redis: RedisInstance;
  /** Starts a route again on the same port (after it was killed). */
  restartRoute(): Promise<RouteProcess>;
  /** `args`: extra flags for this server only, after --server-args (the last of a repeated flag wins). */
  addServer(args?: readonly string[]): Promise<ServerProcess>;
  /** Resolves once the route sees exactly `count` live servers. */
  waitForServers(count: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs `cim <args>` and resolves with the first JSON log line whose msg is `readyMsg`, and the inspector's URL
 * when Node printed one before it (--inspect).
 */
function spawnCim(cim: readonly string[], name: string, args: string[], readyMsg: string, env?: NodeJS.ProcessEnv): Promise<{ process: ManagedProcess; line: Record<string, unknown>; inspectorUrl?: string }> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let inspectorUrl: string | undefined;
    const proc = startProcess(name, cim[0]!, [...cim.slice(1), ...args], {
      ...(env ? { env } : {}),
      onLine: (line) => {
        inspectorUrl ??= /^Debugger listening on (ws:\/\/\S+)/.exec(line)?.[1];
        if (settled || !line.startsWith('{')) return;
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          if (parsed['msg'] === readyMsg) {
            settled = true;
            resolve({ process: proc, line: parsed, ...(inspectorUrl ? { inspectorUrl } : {}) });
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

/** An optional port a component logged in its start line. */
function portField<K extends string>(key: K, line: Record<string, unknown>): Partial<Record<K, number>> {
  const v = line[key];
  return typeof v === 'number' ? ({ [key]: v } as Partial<Record<K, number>>) : {};
}

export async function startProcessCluster(o: ProcessClusterOptions): Promise<ProcessCluster> {
  const zkRoot = `/cim-${randomBytes(6).toString('hex')}`;
  const redis = o.redisUrl === undefined ? await startRedisServer({ persistent: o.persistentRedis ?? false }) : undefined;
  const redisUrl = o.redisUrl ?? redis!.url;
  const servers: ServerProcess[] = [];
  let route: RouteProcess | undefined;
  const common = ['--zk-connect', o.zkConnect, '--zk-root', zkRoot, '--zk-session-timeout', String(o.zkSessionTimeoutMs ?? 2000), '--redis-url', redisUrl, '--log-level', o.logLevel ?? 'info'];
  const authSecret = o.authSecret ?? randomBytes(24).toString('base64url');
  common.push('--auth-secret', authSecret);
  common.push('--auth', o.auth ?? (o.authSecret ? 'password' : 'cim'));

  let serial = 0;
  const addServer = async (extra: readonly string[] = []): Promise<ServerProcess> => {
    const args = [
      'server', ...common, '--host', '127.0.0.1', '--advertise-host', '127.0.0.1', '--tcp-port', '0', '--http-port', '0',
      '--heartbeat-timeout', String(o.heartbeatTimeoutSec ?? 30), '--login-timeout', String(o.loginTimeoutSec ?? 5),
      '--presence-ttl', String(o.presenceTtlSec ?? 30), '--shutdown-timeout', '3', ...(o.serverArgs ?? []), ...extra,
    ];
    // The server image's V8 flags; NODE_OPTIONS of the caller's environment come after them and win.
    const inspect = o.inspectServers ? '--inspect=127.0.0.1:0' : undefined;
    const env = { ...process.env, NODE_OPTIONS: [SERVER_NODE_OPTIONS, inspect, process.env['NODE_OPTIONS']].filter(Boolean).join(' ') };
    const { process: proc, line, inspectorUrl } = await spawnCim(o.cim, `cim-server-${++serial}`, args, 'cim-server started', env);
    const handle: ServerProcess = {
      address: String(line['server']),
      tcpPort: Number(line['tcpPort']),
      httpPort: Number(line['httpPort']),
      ...portField('internalPort', line),
      ...portField('metricsPort', line),
      ...(inspectorUrl ? { inspectorUrl } : {}),
      process: proc,
      kill: (signal: NodeJS.Signals = 'SIGKILL') => proc.stop(signal, 10_000),
    };
    servers.push(handle);
    return handle;
  };

  const stop = async () => {
    await Promise.all([route?.kill('SIGKILL'), ...servers.map((s) => s.kill('SIGKILL'))]);
    await redis?.stop();
  };

  const routeArgs = (port: number) => ['route', ...common, '--host', '127.0.0.1', '--port', String(port), '--strategy', o.strategy ?? 'round-robin', ...(o.routeArgs ?? [])];
  const startRoute = async (port: number): Promise<RouteProcess> => {
    const { process: proc, line } = await spawnCim(o.cim, 'cim-route', routeArgs(port), 'cim-route started');
    route = { url: `${line['tls'] === true ? 'https' : 'http'}://127.0.0.1:${Number(line['port'])}`, ...portField('metricsPort', line), process: proc, kill: (signal: NodeJS.Signals = 'SIGKILL') => proc.stop(signal, 10_000) };
    return route;
  };

  try {
    for (let i = 0; i < (o.servers ?? 2); i++) await addServer();
    const routeUrl = (await startRoute(0)).url;
    const routePort = Number(new URL(routeUrl).port);
    const waitForServers = async (count: number) => {
      await waitUntil(
        `the route to see ${count} live servers`,
        async () => {
          // --metrics-port moves /metrics to a plain-HTTP port of its own.
          const metricsUrl = route?.metricsPort ? `http://127.0.0.1:${route.metricsPort}/metrics` : `${routeUrl}/metrics`;
          const metrics = await (o.fetch ?? fetch)(metricsUrl).then((r) => r.text());
          const live = /^cim_route_live_servers(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1];
          return Number(live) === count ? true : undefined;
        },
        START_TIMEOUT_MS,
      );
    };
    await waitForServers(servers.length);
    return {
      routeUrl,
      redisUrl,
      zkConnect: o.zkConnect,
      zkRoot,
      authSecret,
      servers,
      get route() {
        return route!;
      },
      get redis() {
        if (!redis) throw new Error(`this cluster has no private redis-server: it uses ${redisUrl}`);
        return redis;
      },
      addServer,
      waitForServers,
      restartRoute: () => startRoute(routePort),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
