/**
 * cim-server: wires the node, its transports, its HTTP app, its registration and its timers, and
 * shuts them down in order. `startCimServer` is used by `cim server`, by `cim up` and by tests.
 */
import { networkInterfaces } from 'node:os';
import { systemClock, type Clock } from '../../common/src/clock.ts';
import { createLogger, type Logger, type LogLevel } from '../../common/src/log.ts';
import { bounded, serveUntilSignal } from '../../common/src/shutdown.ts';
import { MessageRouter } from '../../common/src/message-router.ts';
import { registerMetaStoreMetrics } from '../../common/src/meta-store/metrics.ts';
import type { MetaStore, Registration } from '../../common/src/meta-store/types.ts';
import { ZkMetaStore } from '../../common/src/meta-store/zookeeper.ts';
import { createMetricsRegistry } from '../../common/src/metrics.ts';
import { parseCommandLine } from '../../common/src/options.ts';
import { supportsDevices, type InboxStore } from '../../common/src/inbox/types.ts';
import { asDeviceInbox } from '../../common/src/inbox/devices.ts';
import type { LoginPolicy } from './context.ts';
import { historyOf } from '../../common/src/history/select.ts';
import { groupsOf } from '../../common/src/groups/select.ts';
import { contactsOf } from '../../common/src/contacts/select.ts';
import { PRESENCE_SWEEP_MS, PresenceNotifier } from '../../common/src/contacts/presence.ts';
import type { ContactStore } from '../../common/src/contacts/types.ts';
import type { GroupStore } from '../../common/src/groups/types.ts';
import type { HistoryStore } from '../../common/src/history/types.ts';
import { RedisInboxStore } from '../../common/src/inbox/redis.ts';
import { sqlStoresOf } from '../../common/src/sql/select.ts';
import { LocalShortcutPushTransport, type PushTransport } from '../../common/src/push.ts';
import { pushTransportOf } from '../../common/src/push-select.ts';
import { PushLinkServer } from './push-link.ts';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { RedisRouteStore } from '../../common/src/route-store/redis.ts';
import type { RouteStore } from '../../common/src/route-store/types.ts';
import { formatServerAddress, type ServerNodeData } from '../../common/src/server-address.ts';
import type { AuthStore } from '../../common/src/auth-store.ts';
import { MemoryAuthStore } from '../../common/src/auth-store-memory.ts';
import { RedisAuthStore } from '../../common/src/auth-store-redis.ts';
import { buildInternalApp, buildServerApp } from './app.ts';
import { createMetricsApp } from '../../common/src/http.ts';
import { ExternalAddressWatch } from './external-address.ts';
import { frameLimits, serverOptionSpecs, type ServerConfig } from './config.ts';
import { AddressLimiter } from './limits.ts';
import { loadTlsMaterial, readCaFile, tlsFilesFrom, TlsReloader, type SecureContextTarget } from '../../common/src/tls.ts';
import { sweepIntervalMs } from './heartbeat.ts';
import { createServerMetrics } from './metrics.ts';
import { ServerNode } from './node.ts';
import { TcpTransport } from './transport/tcp.ts';
import { WsTransport } from './transport/ws.ts';

export const SERVER_VERSION = '0.1.0';
const NODE_DATA_INTERVAL_MS = 5000;

export interface CimServerDeps {
  readonly store: RouteStore;
  /** every user's acknowledged inbox (shared with the routes and the other servers) */
  readonly inbox: InboxStore;
  /** conversations' server-side history (default: Redis beside the route store, else memory) */
  readonly history?: HistoryStore;
  /** named groups (default: Redis beside the route store, else memory) */
  readonly groups?: GroupStore;
  /** contacts, their setting and the presence journal (default: Redis beside the route store, else memory) */
  readonly contacts?: ContactStore;
  readonly meta: MetaStore;
  /** token revocations (default: on the route store's Redis, or in memory) */
  readonly auth?: AuthStore;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Pushes to other servers; defaults to HTTP. */
  readonly push?: PushTransport;
}

export interface CimServerHandle {
  readonly id: string;
  readonly tcpPort: number;
  readonly httpPort: number;
  /** --internal-port as bound (the push endpoints), else undefined */
  readonly internalPort: number | undefined;
  /** --metrics-port as bound, else undefined */
  readonly metricsPort: number | undefined;
  readonly node: ServerNode;
  /** Graceful: deregister, stop accepting, GOAWAY + close clients, wait up to the shutdown timeout. */
  stop(): Promise<void>;
}

export function defaultAdvertiseHost(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

export async function startCimServer(config: ServerConfig, deps: CimServerDeps): Promise<CimServerHandle> {
  const clock = deps.clock ?? systemClock;
  const authMode = (config.auth ?? 'password') as 'cim' | 'password';
  // Pushes are always authenticated (docs/decisions.md): no mode runs without the shared secret.
  if (!config.authSecret) throw new Error(`cim server needs --auth-secret (also with --auth ${authMode}): the routes and other servers authenticate their pushes with it`);
  const authStore = authMode === 'password' ? (deps.auth ?? (deps.store instanceof RedisRouteStore ? new RedisAuthStore(deps.store.client) : new MemoryAuthStore(clock))) : undefined;
  const { maxFrameBytes, maxQueueBytes } = frameLimits(config);
  const registry = createMetricsRegistry('cim-server');
  const metrics = createServerMetrics(registry);
  registerMetaStoreMetrics(registry, deps.meta);
  let selfId = '';
  // TLS: read and checked before anything listens; a missing or bad file stops the start with a clear error.
  const tlsFiles = tlsFilesFrom(config.tlsCert, config.tlsKey);
  if (config.tlsTcp && !tlsFiles) throw new Error('--tls-tcp needs --tls-cert and --tls-key');
  const tlsMaterial = tlsFiles ? loadTlsMaterial(tlsFiles) : undefined;
  // Pushes to other servers go over HTTPS to those that published `tls` in ZooKeeper.
  const pushTls = { of: (id: string) => deps.meta.servers().find((s) => s.id === id)?.data?.tls, ca: config.serverTlsCa ? readCaFile(config.serverTlsCa, '--server-tls-ca') : undefined };
  const internalPortOf = (id: string) => deps.meta.servers().find((s) => s.id === id)?.data?.internalPort;
  const httpPush = deps.push ?? pushTransportOf(config.pushTransport, { authSecret: config.authSecret, tls: pushTls, internalPortOf });
  // Pushes to this very server skip HTTP.
  const push = new LocalShortcutPushTransport(() => selfId, (request) => node.handlePush(request), httpPush);
  const limits = { maxEntries: config.inboxMax, ttlMs: config.inboxTtl * 1000, maxPerSender: config.inboxMaxPerSender };
  const loginPolicy = config.loginPolicy as LoginPolicy;
  if (loginPolicy === 'multi' && !supportsDevices(deps.inbox)) throw new Error(`--login-policy multi needs an offline store that keeps devices (redis, postgres); --offline-store ${config.offlineStore} does not`);
  const inbox = asDeviceInbox(deps.inbox);
  const contacts = contactsOf(deps);
  const groups = groupsOf(deps);
  const presence = new PresenceNotifier({ contacts, directory: deps.store, meta: deps.meta, push, clock, log: deps.log, selfId: () => selfId, groups, groupPresenceMax: config.groupPresenceMax });
  const router = new MessageRouter({ directory: deps.store, inbox: deps.inbox, meta: deps.meta, push, clock, log: deps.log, limits, history: historyOf(config, deps, clock), groups, contacts, onHistoryFailed: () => metrics.historyFailed.inc(), onDropped: (n) => metrics.inboxDropped.inc(n), onRefused: (reason) => metrics.inboxRefused.inc({ reason }) });
  const node: ServerNode = new ServerNode({
    get selfId() {
      return selfId;
    },
    store: deps.store,
    inbox,
    router,
    clock,
    log: deps.log,
    metrics,
    policy: { heartbeatTimeoutMs: config.heartbeatTimeout * 1000, loginTimeoutMs: config.loginTimeout * 1000 },
    presenceTtlMs: config.presenceTtl * 1000,
    maxQueueBytes,
    authSecret: config.authSecret,
    authMode,
    authStore,
    revocationCheckMs: (config.revocationCheck ?? 5) * 1000,
    rateLimit: { maxMsgRate: config.maxMsgRate, msgBurst: config.msgBurst },
    maxMessageBytes: config.maxMessageBytes,
    presence,
    loginPolicy,
    maxDevices: config.maxDevices,
    deviceIdleMs: config.inboxTtl * 1000,
  });

  let shuttingDown = false;
  const perAddress = new AddressLimiter(config.maxConnectionsPerAddress);
  const tcp = new TcpTransport(node, { host: config.host, port: config.tcpPort, maxFrameBytes, perAddress, tls: config.tlsTcp ? tlsMaterial : undefined });
  const allowedOrigins = (config.allowedOrigins ?? '').split(',').map((o) => o.trim().replace(/\/+$/, '')).filter(Boolean);
  const ws = new WsTransport(node, { path: config.wsPath, maxFrameBytes, perAddress, allowedOrigins });
  const appDeps = {
    node,
    registry,
    log: deps.log,
    checks: [
      { name: 'route-store', isReady: () => deps.store.isReady() },
      { name: 'meta-store', isReady: () => deps.meta.isReady() },
    ],
    isShuttingDown: () => shuttingDown,
    authSecret: config.authSecret,
    authMode,
    // A /push/batch carries several messages of up to --max-message-bytes each, JSON-escaped.
    bodyLimitBytes: Math.max(4 * 1024 * 1024, 8 * maxFrameBytes),
    https: tlsMaterial,
    internalPort: config.internalPort !== undefined,
    metrics: config.metricsPort === undefined,
  };
  const app = buildServerApp(appDeps);
  const internalApp = config.internalPort !== undefined ? buildInternalApp(appDeps) : undefined;
  const metricsApp = config.metricsPort !== undefined ? createMetricsApp(deps.log, registry) : undefined;
  const tlsReloader = tlsFiles && tlsMaterial ? new TlsReloader({ files: tlsFiles, initial: tlsMaterial, log: deps.log, intervalMs: config.tlsReloadInterval * 1000 }) : undefined;
  if (tlsReloader) {
    tlsReloader.add(app.server as unknown as SecureContextTarget);
    if (internalApp) tlsReloader.add(internalApp.server as unknown as SecureContextTarget);
    if (tcp.tlsServer) tlsReloader.add(tcp.tlsServer);
    tlsReloader.start();
  }
  // The push link lives where /push does: the internal port when there is one, else the HTTP port.
  const pushLink = new PushLinkServer({ authSecret: config.authSecret, log: deps.log, maxPayload: Math.max(4 * 1024 * 1024, 8 * maxFrameBytes), handlePush: (r) => node.handlePush(r), onBatch: (result, pushes) => {
    metrics.pushLinkBatches.inc({ result });
    metrics.pushLinkPushes.inc(pushes);
  } });
  const linkUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => pushLink.handleUpgrade(req, socket, head);
  if (internalApp) {
    ws.attach(app.server);
    internalApp.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!linkUpgrade(req, socket, head)) socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
  } else ws.attach(app.server, linkUpgrade);

  const tcpPort = await tcp.listen();
  await app.listen({ host: config.host, port: config.httpPort });
  const httpAddr = app.server.address();
  const httpPort = typeof httpAddr === 'object' && httpAddr ? httpAddr.port : config.httpPort;
  const internalPort = internalApp ? await listenOn(internalApp, config.internalHost ?? config.host, config.internalPort ?? 0) : undefined;
  const metricsPort = metricsApp ? await listenOn(metricsApp, config.host, config.metricsPort ?? 0) : undefined;
  const address = { host: config.advertiseHost ?? defaultAdvertiseHost(), tcpPort, httpPort };
  selfId = formatServerAddress(address);

  // Kubernetes external access: the address outside clients use, published with the node data.
  const external = config.externalAddressFile ? new ExternalAddressWatch({ path: config.externalAddressFile, log: deps.log }) : undefined;
  await external?.start();
  const nodeData = (): ServerNodeData => ({ wsPath: config.wsPath, version: SERVER_VERSION, connections: node.hub.connectionCount, startedAt: clock.now(), ...(external?.current ? { external: external.current } : {}), ...(tlsMaterial ? { tls: { tcp: config.tlsTcp === true, ...(config.tlsName ? { name: config.tlsName } : {}) } } : {}), ...(internalPort ? { internalPort } : {}) });
  await deps.meta.start();
  let registration: Registration | undefined;
  const register = async () => {
    try {
      registration = await deps.meta.register(address, nodeData());
    } catch (err) {
      deps.log.error({ err, server: selfId }, 'registration failed; retrying');
    }
  };
  await register();

  const sweepTimer = setInterval(() => node.sweep(), sweepIntervalMs({ heartbeatTimeoutMs: config.heartbeatTimeout * 1000, loginTimeoutMs: config.loginTimeout * 1000 }));
  const presenceTimer = setInterval(() => {
    node.refreshPresence().catch((err: unknown) => deps.log.warn({ err }, 'presence refresh failed'));
  }, (config.presenceTtl * 1000) / 3);
  let lastPublished = '';
  const dataTimer = setInterval(() => {
    if (!registration) return void register();
    const published = `${node.hub.connectionCount}|${JSON.stringify(external?.current ?? null)}`;
    if (published === lastPublished) return;
    lastPublished = published;
    registration.update(nodeData()).catch(() => undefined);
  }, NODE_DATA_INTERVAL_MS);
  // Users of crashed servers go offline for their watchers (contacts/presence.ts).
  const presenceSweepTimer = setInterval(() => void presence.sweep(), PRESENCE_SWEEP_MS);
  for (const t of [sweepTimer, presenceTimer, dataTimer, presenceSweepTimer]) t.unref();

  deps.log.info({ server: selfId, tcpPort, httpPort, ...(internalPort ? { internalPort } : {}), ...(metricsPort ? { metricsPort } : {}), wsPath: config.wsPath, tls: tlsMaterial ? (config.tlsTcp ? 'http+tcp' : 'http') : 'off' }, 'cim-server started');

  let stopping: Promise<void> | undefined;
  return {
    get id() {
      return selfId;
    },
    tcpPort,
    httpPort,
    internalPort,
    metricsPort,
    node,
    stop() {
      stopping ??= (async () => {
        shuttingDown = true;
        clearInterval(dataTimer);
        tlsReloader?.stop();
        external?.stop();
        // Every step is bounded: with ZooKeeper or Redis down, --shutdown-timeout still holds.
        const deadline = clock.now() + config.shutdownTimeout * 1000;
        // Deregister first: routes stop choosing this server before its clients come back to them.
        await bounded(registration?.deregister(), 1000, 'deregistration', deps.log);
        ws.stopAccepting();
        const tcpClosed = tcp.stopAccepting();
        await bounded(node.drain(), deadline - clock.now(), 'draining sessions', deps.log);
        while (tcp.openSockets + ws.openSockets > 0 && clock.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        tcp.destroyAll();
        ws.close();
        pushLink.close();
        await tcpClosed;
        clearInterval(sweepTimer);
        clearInterval(presenceTimer);
        clearInterval(presenceSweepTimer);
        await bounded(Promise.all([app.close(), internalApp?.close(), metricsApp?.close()]), 500, 'closing the http servers', deps.log);
        httpPush.close?.();
        deps.log.info({ server: selfId }, 'cim-server stopped');
      })();
      return stopping;
    },
  };
}

/** Listens and returns the bound port (0 = any free one). */
async function listenOn(app: { listen(o: { host: string; port: number }): Promise<unknown>; server: { address(): unknown } }, host: string, port: number): Promise<number> {
  await app.listen({ host, port });
  const addr = app.server.address();
  return typeof addr === 'object' && addr !== null && 'port' in addr ? Number(addr.port) : port;
}

/** `cim server`: real Redis and ZooKeeper. */
export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseCommandLine(serverOptionSpecs, argv, env, { command: 'cim server', summary: 'Holds client connections (TCP and WebSocket), registers in ZooKeeper, pushes messages.' });
  if (!parsed.ok) return parsed.exitCode;
  const config = parsed.options;
  const log = createLogger('cim-server', config.logLevel as LogLevel);
  // --offline-store postgres: migrated and connected before anything else starts, so a bad URL fails at once.
  const sql = await sqlStoresOf(config, log);
  const store = new RedisRouteStore(config.redisUrl, config.redisPassword ? { password: config.redisPassword } : {});
  store.client.on('error', (err) => log.warn({ err: err.message }, 'redis error'));
  const meta = new ZkMetaStore({ connect: config.zkConnect, root: config.zkRoot, sessionTimeoutMs: config.zkSessionTimeout, log });
  const server = await startCimServer(config, { store, inbox: sql?.inbox ?? new RedisInboxStore(store.client), ...(sql ? { history: sql.history } : {}), meta, log });
  return serveUntilSignal({ log, deadlineMs: config.shutdownTimeout * 1000 + 900, stop: () => server.stop().then(() => sql?.close()), zookeeper: meta, redis: store });
}
