/** cim-route: stateless; any number of replicas share Redis and watch ZooKeeper. */
import { systemClock, type Clock } from '../../common/src/clock.ts';
import { createLogger, type Logger, type LogLevel } from '../../common/src/log.ts';
import { MessageRouter } from '../../common/src/message-router.ts';
import { registerMetaStoreMetrics } from '../../common/src/meta-store/metrics.ts';
import type { MetaStore } from '../../common/src/meta-store/types.ts';
import { ZkMetaStore } from '../../common/src/meta-store/zookeeper.ts';
import { createMetricsRegistry } from '../../common/src/metrics.ts';
import { parseCommandLine } from '../../common/src/options.ts';
import type { InboxStore } from '../../common/src/inbox/types.ts';
import { historyOf } from '../../common/src/history/select.ts';
import { groupsOf } from '../../common/src/groups/select.ts';
import { contactsOf } from '../../common/src/contacts/select.ts';
import type { ContactStore } from '../../common/src/contacts/types.ts';
import type { GroupStore } from '../../common/src/groups/types.ts';
import type { HistoryStore } from '../../common/src/history/types.ts';
import { RedisInboxStore } from '../../common/src/inbox/redis.ts';
import { sqlStoresOf } from '../../common/src/sql/select.ts';
import type { PushTransport } from '../../common/src/push.ts';
import { pushTransportOf } from '../../common/src/push-select.ts';
import { RedisRouteStore } from '../../common/src/route-store/redis.ts';
import type { RouteStore } from '../../common/src/route-store/types.ts';
import { advertisable } from '../../common/src/server-address.ts';
import { createStrategy, type SelectionStrategy, type StrategyName } from '../../common/src/selection.ts';
import { bounded, serveUntilSignal } from '../../common/src/shutdown.ts';
import { createMetricsApp } from '../../common/src/http.ts';
import type { AuthStore } from '../../common/src/auth-store.ts';
import { MemoryAuthStore } from '../../common/src/auth-store-memory.ts';
import { RedisAuthStore } from '../../common/src/auth-store-redis.ts';
import { buildRouteApp } from './app.ts';
import { RouteAuth, type AuthMode, type RouteAuthOptions } from './auth.ts';
import { OidcVerifier, PasswordHook } from '../../common/src/auth-external.ts';
import { routeOptionSpecs, type RouteConfig } from './config.ts';
import { createRouteMetrics } from './metrics.ts';
import { cachedProbe, tcpProbe, type Probe } from './probe.ts';
import { createRelayMetrics, WsRelay } from './relay.ts';
import { registerWeb } from './web.ts';
import { fileStoreOf } from '../../common/src/files/select.ts';
import { parseFileTypes } from '../../common/src/files/policy.ts';
import { loadTlsMaterial, readCaFile, tlsFilesFrom, TlsReloader, type SecureContextTarget } from '../../common/src/tls.ts';

export interface CimRouteDeps {
  readonly store: RouteStore;
  /** every user's acknowledged inbox (shared with the servers) */
  readonly inbox: InboxStore;
  /** conversations' server-side history (default: Redis beside the route store, else memory) */
  readonly history?: HistoryStore;
  /** named groups (default: Redis beside the route store, else memory) */
  readonly groups?: GroupStore;
  /** contacts and their setting (default: Redis beside the route store, else memory) */
  readonly contacts?: ContactStore;
  readonly meta: MetaStore;
  /** tokens, revocations, failure counters (default: on the route store's Redis, or in memory) */
  readonly auth?: AuthStore;
  readonly log: Logger;
  readonly clock?: Clock;
  readonly push?: PushTransport;
  readonly probe?: Probe;
}

export interface CimRouteHandle {
  readonly port: number;
  /** --metrics-port as bound, else undefined */
  readonly metricsPort: number | undefined;
  readonly url: string;
  stop(): Promise<void>;
}

/** With `--advertise external`, a server that has not published an external address cannot be handed to a client. */
function externalOnly(strategy: SelectionStrategy): SelectionStrategy {
  return { name: strategy.name, choose: (servers, userId, exclude) => strategy.choose(advertisable(servers, 'external'), userId, exclude) };
}

export async function startCimRoute(config: RouteConfig, deps: CimRouteDeps): Promise<CimRouteHandle> {
  const clock = deps.clock ?? systemClock;
  // Servers refuse unauthenticated pushes in every mode (docs/decisions.md): fail here, not at the first message.
  if (!config.authSecret) throw new Error(`cim route needs --auth-secret (also with --auth ${config.auth}): servers accept pushes only with it`);
  const auth = new RouteAuth({
    mode: (config.auth ?? 'password') as AuthMode,
    secret: config.authSecret,
    store: deps.auth ?? (deps.store instanceof RedisRouteStore ? new RedisAuthStore(deps.store.client) : new MemoryAuthStore(clock)),
    accounts: deps.store,
    clock,
    tokenTtlMs: config.tokenTtl * 1000,
    refreshTtlMs: config.refreshTtl * 1000,
    maxFailures: config.loginMaxFailures,
    maxFailuresPerAddress: config.loginMaxFailuresPerAddress,
    failureWindowMs: config.loginFailureWindow * 1000,
    ...externalIdentity(config),
  });
  const registry = createMetricsRegistry('cim-route');
  const metrics = createRouteMetrics(registry);
  registerMetaStoreMetrics(registry, deps.meta);
  // TLS: the route's own certificate (checked before listening), and the CA its calls to TLS servers verify with.
  const tlsFiles = tlsFilesFrom(config.tlsCert, config.tlsKey);
  const tlsMaterial = tlsFiles ? loadTlsMaterial(tlsFiles) : undefined;
  const serverTlsCa = config.serverTlsCa ? readCaFile(config.serverTlsCa, '--server-tls-ca') : undefined;
  const dataOf = (id: string) => deps.meta.servers().find((s) => s.id === id)?.data;
  // Pushes go to the port a server published for them (--internal-port), else its HTTP port.
  const push = deps.push ?? pushTransportOf(config.pushTransport, { authSecret: config.authSecret, tls: { of: (id) => dataOf(id)?.tls, ca: serverTlsCa }, internalPortOf: (id) => dataOf(id)?.internalPort });
  const limits = { maxEntries: config.inboxMax, ttlMs: config.inboxTtl * 1000, maxPerSender: config.inboxMaxPerSender };
  const history = historyOf(config, deps, clock);
  const groups = groupsOf(deps);
  const contacts = contactsOf(deps);
  const router = new MessageRouter({ directory: deps.store, inbox: deps.inbox, meta: deps.meta, push, clock, log: deps.log, limits, history, groups, contacts, onHistoryFailed: () => metrics.historyFailed.inc(), onDropped: (n) => metrics.inboxDropped.inc(n), onRefused: (reason) => metrics.inboxRefused.inc({ reason }) });
  await deps.meta.start();
  metrics.servers.set(deps.meta.servers().length);
  const offWatch = deps.meta.onChange((servers) => {
    metrics.servers.set(servers.length);
    deps.log.info({ servers: servers.map((s) => s.id) }, 'server list changed');
  });
  const app = buildRouteApp({
    store: deps.store,
    router,
    history: history?.store,
    groups,
    contacts,
    groupMaxMembers: config.groupMaxMembers,
    loginDeps: {
      store: deps.store,
      meta: deps.meta,
      strategy: config.advertise === 'external' ? externalOnly(createStrategy(config.strategy as StrategyName)) : createStrategy(config.strategy as StrategyName),
      probe: deps.probe ?? cachedProbe(tcpProbe(config.probeTimeout), clock),
      pendingTtlMs: config.pendingLoginTtl * 1000,
      policy: config.loginPolicy as 'reject' | 'takeover' | 'multi',
    },
    registry,
    metrics,
    log: deps.log,
    clock,
    checks: [
      { name: 'route-store', isReady: () => deps.store.isReady() },
      { name: 'meta-store', isReady: () => deps.meta.isReady() },
    ],
    auth,
    advertise: config.advertise === 'external' ? 'external' : 'internal',
    maxMessageBytes: config.maxMessageBytes,
    rateLimits: { registerPerMinute: config.registerRateLimit, loginPerMinute: config.loginRateLimit },
    https: tlsMaterial,
    metricsRoute: config.metricsPort === undefined,
    // Checked at start: a malformed --file-store or --file-types fails loudly, not at the first upload.
    files: { store: config.fileStore ? fileStoreOf(config.fileStore) : undefined, secret: config.authSecret, maxBytes: config.maxFileBytes, types: parseFileTypes(config.fileTypes), tokenTtlMs: config.fileTokenTtl * 1000 },
  });
  const tlsReloader = tlsFiles && tlsMaterial ? new TlsReloader({ files: tlsFiles, initial: tlsMaterial, log: deps.log, intervalMs: config.tlsReloadInterval * 1000 }).add(app.server as unknown as SecureContextTarget) : undefined;
  tlsReloader?.start();
  // GET /relay: chat through one port-forward of the route (see relay.ts).
  const relay = new WsRelay(deps.meta, createRelayMetrics(registry), deps.log, {
    maxConnections: config.relayMaxConnections,
    maxFrameBytes: config.relayMaxFrameBytes,
    connectTimeoutMs: config.relayConnectTimeout,
    serverTlsCa,
  });
  relay.attach(app.server);
  // GET /app/: the web chat client (web.ts), which talks to this origin only.
  await registerWeb(app, { connectSrc: (config.webConnectSrc ?? '').split(',').map((s) => s.trim()).filter(Boolean) });
  await app.listen({ host: config.host, port: config.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  const metricsApp = config.metricsPort !== undefined ? createMetricsApp(deps.log, registry) : undefined;
  await metricsApp?.listen({ host: config.host, port: config.metricsPort ?? 0 });
  const metricsAddr = metricsApp?.server.address();
  const metricsPort = typeof metricsAddr === 'object' && metricsAddr ? metricsAddr.port : undefined;
  deps.log.info({ port, ...(metricsPort ? { metricsPort } : {}), strategy: config.strategy, auth: auth.mode, tls: tlsMaterial !== undefined }, 'cim-route started');
  return {
    port,
    metricsPort,
    url: `${tlsMaterial ? 'https' : 'http'}://${host}:${port}`,
    async stop() {
      offWatch();
      tlsReloader?.stop();
      relay.close();
      await bounded(Promise.all([app.close(), metricsApp?.close()]), 2000, 'closing the http servers', deps.log);
      push.close?.();
    },
  };
}

/** --auth-jwks-url and --auth-hook-url (auth-external.ts): checked at start, so a typo fails loudly. */
function externalIdentity(config: RouteConfig): Pick<RouteAuthOptions, 'oidc' | 'hook'> {
  const external = config.authJwksUrl !== undefined || config.authHookUrl !== undefined;
  if (external && config.auth === 'cim') throw new Error('--auth-jwks-url and --auth-hook-url need --auth password');
  const oidc = config.authJwksUrl === undefined ? undefined : {
    issuer: config.authIssuer ?? '',
    verifier: new OidcVerifier({ jwksUrl: config.authJwksUrl, issuer: config.authIssuer ?? '', audience: config.authAudience ?? '', userClaim: config.authUserClaim, timeoutMs: config.authJwksTimeout }),
  };
  const hook = config.authHookUrl === undefined ? undefined : new PasswordHook({ url: config.authHookUrl, timeoutMs: config.authHookTimeout });
  return { oidc, hook };
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseCommandLine(routeOptionSpecs, argv, env, { command: 'cim route', summary: 'Registers accounts, logs users in, picks servers, routes private and group messages.' });
  if (!parsed.ok) return parsed.exitCode;
  const config = parsed.options;
  const log = createLogger('cim-route', config.logLevel as LogLevel);
  // --offline-store postgres: migrated and connected before anything else starts, so a bad URL fails at once.
  const sql = await sqlStoresOf(config, log);
  const store = new RedisRouteStore(config.redisUrl, config.redisPassword ? { password: config.redisPassword } : {});
  store.client.on('error', (err) => log.warn({ err: err.message }, 'redis error'));
  const meta = new ZkMetaStore({ connect: config.zkConnect, root: config.zkRoot, sessionTimeoutMs: config.zkSessionTimeout, log });
  const route = await startCimRoute(config, { store, inbox: sql?.inbox ?? new RedisInboxStore(store.client), ...(sql ? { history: sql.history } : {}), meta, log });
  return serveUntilSignal({ log, deadlineMs: ROUTE_SHUTDOWN_MS, stop: () => route.stop().then(() => sql?.close()), zookeeper: meta, redis: store });
}

/** The route holds no long connections: its shutdown (in-flight requests, clients) ends within this. */
const ROUTE_SHUTDOWN_MS = 4000;
