/**
 * `cim up`: a whole cluster on this machine, in the foreground, for demos and development:
 * ZooKeeper, Redis, N cim-servers and a cim-route. Real redis-server and ZooKeeper processes when
 * they are installed; otherwise (or with --embedded) one process with in-memory stores.
 */
import { systemClock } from '../../common/src/clock.ts';
import { MemoryHistoryStore } from '../../common/src/history/memory.ts';
import { MemoryGroupStore } from '../../common/src/groups/memory.ts';
import { MemoryContactStore } from '../../common/src/contacts/memory.ts';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createLogger, LOG_LEVELS, type Logger, type LogLevel } from '../../common/src/log.ts';
import { MemoryMetaHub, MemoryMetaStore } from '../../common/src/meta-store/memory.ts';
import type { MetaStore } from '../../common/src/meta-store/types.ts';
import { ZkMetaStore } from '../../common/src/meta-store/zookeeper.ts';
import { parseCommandLine, parseOptions, type ParsedOptions } from '../../common/src/options.ts';
import { randomBytes } from 'node:crypto';
import { MemoryAuthStore } from '../../common/src/auth-store-memory.ts';
import { MemoryRouteStore } from '../../common/src/route-store/memory.ts';
import { RedisRouteStore } from '../../common/src/route-store/redis.ts';
import { MemoryInboxStore } from '../../common/src/inbox/memory.ts';
import { RedisInboxStore } from '../../common/src/inbox/redis.ts';
import { sqlStoresOf } from '../../common/src/sql/select.ts';
import type { RouteStore } from '../../common/src/route-store/types.ts';
import { STRATEGIES } from '../../common/src/selection.ts';
import { waitForSignal } from '../../common/src/signals.ts';
import { startRedisServer, type RedisInstance } from '../../common/src/infra/redis-server.ts';
import { isZooKeeperInstalled, startZooKeeper, type ZooKeeperInstance } from '../../common/src/infra/zookeeper.ts';
import { startCimRoute, type CimRouteHandle } from '../../route/src/main.ts';
import { routeOptionSpecs } from '../../route/src/config.ts';
import { startCimServer, type CimServerHandle } from '../../server/src/main.ts';
import { serverOptionSpecs } from '../../server/src/config.ts';

const upOptionSpecs = {
  embedded: { type: 'boolean', default: false, description: 'one process, in-memory stores: no Redis, no ZooKeeper' },
  servers: { type: 'int', default: 2, min: 1, max: 16, description: 'number of cim-servers' },
  host: { type: 'string', default: '127.0.0.1', description: 'address every component binds to and advertises' },
  routePort: { type: 'int', default: 8083, min: 0, max: 65535, description: 'cim-route HTTP port' },
  serverTcpPort: { type: 'int', default: 11211, min: 0, max: 65535, description: 'TCP port of the first server (the next ones count up); 0 = any' },
  serverHttpPort: { type: 'int', default: 8081, min: 0, max: 65535, description: 'HTTP/WebSocket port of the first server (the next ones count up); 0 = any' },
  redisUrl: { type: 'string', optional: true, description: 'use this Redis instead of starting one' },
  zkConnect: { type: 'string', optional: true, description: 'use this ZooKeeper instead of starting one' },
  postgresUrl: { type: 'string', optional: true, description: 'keep inboxes and history in this PostgreSQL (cim server/route --offline-store postgres) instead of Redis; not with --embedded' },
  strategy: { type: 'string', default: 'round-robin', choices: STRATEGIES, description: 'server selection for logins' },
  heartbeatTimeout: { type: 'number', default: 30, min: 0.1, description: 'seconds without a frame before a client is evicted' },
  auth: { type: 'string', default: 'password', choices: ['cim', 'password'], description: 'password: accounts have passwords and calls need tokens; cim: CIM\'s open behaviour (no password, no token)' },
  authSecret: { type: 'string', optional: true, description: 'secret shared by servers and route (default: a random one per run)' },
  fileStore: { type: 'string', optional: true, description: 'where file messages are kept: dir:<path> or s3://bucket?endpoint=...&region=... (default: a temporary directory, removed at exit)' },
  logLevel: { type: 'string', default: 'warn', choices: LOG_LEVELS, description: 'log level of the components' },
} as const;
type UpOptions = ParsedOptions<typeof upOptionSpecs>;

function commandExists(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

interface Running {
  readonly mode: 'real' | 'embedded';
  readonly redis?: RedisInstance;
  readonly zk?: ZooKeeperInstance;
  readonly redisUrl?: string;
  readonly zkConnect?: string;
  readonly servers: CimServerHandle[];
  readonly route: CimRouteHandle;
  stop(): Promise<void>;
}

export async function startLocalCluster(o: UpOptions, log: Logger): Promise<Running> {
  const wantReal = !o.embedded;
  const haveRealBinaries = (o.redisUrl !== undefined || commandExists('redis-server')) && (o.zkConnect !== undefined || (isZooKeeperInstalled() && commandExists('java')));
  const mode: 'real' | 'embedded' = wantReal && haveRealBinaries ? 'real' : 'embedded';
  if (wantReal && !haveRealBinaries) console.log('redis-server or ZooKeeper is not installed: running embedded (in-memory) instead.');

  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const c of cleanups.reverse()) await c().catch((err: unknown) => log.warn({ err }, 'cleanup failed'));
  };
  try {
    let redis: RedisInstance | undefined;
    let zk: ZooKeeperInstance | undefined;
    let redisUrl = o.redisUrl;
    let zkConnect = o.zkConnect;
    const hub = new MemoryMetaHub();
    const sharedMemoryStore = new MemoryRouteStore();
    if (mode === 'real') {
      if (!redisUrl) {
        redis = await startRedisServer();
        cleanups.push(() => redis!.stop());
        redisUrl = redis.url;
      }
      if (!zkConnect) {
        zk = await startZooKeeper({ nodes: 1, tickTime: 1000 });
        cleanups.push(() => zk!.stop());
        zkConnect = zk.connect;
      }
    }
    const newStore = (): RouteStore => {
      if (mode === 'embedded') return sharedMemoryStore;
      const store = new RedisRouteStore(redisUrl!);
      store.client.on('error', (err) => log.warn({ err: err.message }, 'redis error'));
      cleanups.push(() => store.close());
      return store;
    };
    // Inboxes live next to the route store: one shared memory inbox embedded, Redis otherwise.
    const sharedMemoryInbox = new MemoryInboxStore();
    // Revocations must be seen by the route and every server: one memory store embedded, Redis otherwise.
    const sharedMemoryAuth = new MemoryAuthStore();
    // Conversations' history likewise (Redis: each component's own client on the same server).
    const sharedMemoryHistory = new MemoryHistoryStore(systemClock);
    const sharedMemoryGroups = new MemoryGroupStore();
    const sharedMemoryContacts = new MemoryContactStore();
    // --postgres-url: one pool for every component of this process (docs/delivery.md "SQL backend").
    if (o.postgresUrl !== undefined && mode === 'embedded') throw new Error('--postgres-url needs redis-server and ZooKeeper (not --embedded)');
    const sql = await sqlStoresOf({ offlineStore: o.postgresUrl === undefined ? 'redis' : 'postgres', postgresUrl: o.postgresUrl }, log);
    if (sql) cleanups.push(() => sql.close());
    const newStores = () => {
      const store = newStore();
      return store instanceof RedisRouteStore ? { store, inbox: sql?.inbox ?? new RedisInboxStore(store.client), ...(sql ? { history: sql.history } : {}) } : { store, inbox: sharedMemoryInbox, auth: sharedMemoryAuth, history: sharedMemoryHistory, groups: sharedMemoryGroups, contacts: sharedMemoryContacts };
    };
    // Every mode needs a shared secret (pushes are always authenticated); one process tree, so a random one per run is enough.
    const auth = (o.auth ?? 'password') as 'cim' | 'password';
    const authSecret = o.authSecret ?? randomBytes(32).toString('base64url');
    const newMeta = (): MetaStore => {
      const meta = mode === 'embedded' ? new MemoryMetaStore(hub) : new ZkMetaStore({ connect: zkConnect!, root: '/cim', sessionTimeoutMs: 6000, log });
      cleanups.push(() => meta.close());
      return meta;
    };

    const servers: CimServerHandle[] = [];
    for (let i = 0; i < o.servers; i++) {
      const config = parseOptions(serverOptionSpecs, [], {}).options;
      const server = await startCimServer(
        {
          ...config,
          host: o.host,
          advertiseHost: o.host,
          tcpPort: o.serverTcpPort === 0 ? 0 : o.serverTcpPort + i,
          httpPort: o.serverHttpPort === 0 ? 0 : o.serverHttpPort + i,
          heartbeatTimeout: o.heartbeatTimeout,
          auth,
          authSecret,
          shutdownTimeout: 3,
        },
        { ...newStores(), meta: newMeta(), log: log.child({ component: `cim-server-${i + 1}` }) },
      );
      cleanups.push(() => server.stop());
      servers.push(server);
    }
    const routeConfig = parseOptions(routeOptionSpecs, [], {}).options;
    // File messages (docs/delivery.md "File messages"): a directory of this run unless told otherwise.
    let fileStore = o.fileStore;
    if (fileStore === undefined) {
      const dir = await mkdtemp(join(tmpdir(), 'cim-up-files-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      fileStore = `dir:${dir}`;
    }
    const route = await startCimRoute(
      { ...routeConfig, host: o.host, port: o.routePort, strategy: o.strategy, auth, authSecret, fileStore },
      { ...newStores(), meta: newMeta(), log: log.child({ component: 'cim-route' }) },
    );
    cleanups.push(() => route.stop());
    return {
      mode,
      ...(redis ? { redis } : {}),
      ...(zk ? { zk } : {}),
      ...(redisUrl ? { redisUrl } : {}),
      ...(zkConnect ? { zkConnect } : {}),
      servers,
      route,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

async function health(url: string): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.ok ? 'ready' : `not ready (${res.status})`;
  } catch (err) {
    return `unreachable (${(err as Error).message})`;
  }
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseCommandLine(upOptionSpecs, argv, env, { command: 'cim up', summary: 'Runs a whole CIM cluster on this machine in the foreground; Ctrl-C stops everything it started.' });
  if (!parsed.ok) return parsed.exitCode;
  const o = parsed.options;
  const log = createLogger('cim-up', o.logLevel as LogLevel);
  const cluster = await startLocalCluster(o, log);
  const rows: [string, string, string][] = [];
  if (cluster.mode === 'real') {
    rows.push(['zookeeper', cluster.zkConnect ?? '', cluster.zk ? 'started here' : 'external']);
    rows.push(['redis', cluster.redisUrl ?? '', cluster.redis ? 'started here' : 'external']);
  } else {
    rows.push(['stores', 'in-memory (embedded mode)', 'ready']);
  }
  for (const [i, s] of cluster.servers.entries()) {
    const [host] = s.id.split(':');
    rows.push([`cim-server-${i + 1}`, `tcp ${host}:${s.tcpPort}  ws://${host}:${s.httpPort}/ws`, await health(`http://${host}:${s.httpPort}/readyz`)]);
  }
  rows.push(['cim-route', cluster.route.url, await health(`${cluster.route.url}/readyz`)]);
  console.log(`\nCIM is running (${cluster.mode === 'real' ? 'real Redis + ZooKeeper' : 'embedded'}):\n`);
  for (const [name, address, state] of rows) console.log(`  ${name.padEnd(14)} ${address.padEnd(48)} ${state}`);
  const cim = existsSync('bin/cim') ? 'bin/cim' : 'cim';
  console.log(`\nChat from other terminals:\n  ${cim} chat --route ${cluster.route.url} --user alice\n  ${cim} chat --route ${cluster.route.url} --user bob\n\nMetrics: ${cluster.route.url}/metrics   Press Ctrl-C to stop everything.\n`);
  await waitForSignal(log);
  console.log('stopping…');
  await cluster.stop();
  console.log('stopped.');
  return 0;
}
