/** cim-route: stateless; any number of replicas share Redis and watch ZooKeeper. */
import { systemClock, type Clock } from '../../common/src/clock.ts';
import { createLogger, type Logger, type LogLevel } from '../../common/src/log.ts';
import { MessageRouter } from '../../common/src/message-router.ts';
import type { MetaStore } from '../../common/src/meta-store/types.ts';
import { ZkMetaStore } from '../../common/src/meta-store/zookeeper.ts';
import { createMetricsRegistry } from '../../common/src/metrics.ts';
import { parseCommandLine } from '../../common/src/options.ts';
import { HttpPushTransport, type PushTransport } from '../../common/src/push.ts';
import { RedisRouteStore } from '../../common/src/route-store/redis.ts';
import type { RouteStore } from '../../common/src/route-store/types.ts';
import { createStrategy, type StrategyName } from '../../common/src/selection.ts';
import { waitForSignal } from '../../common/src/signals.ts';
import { buildRouteApp } from './app.ts';
import { routeOptionSpecs, type RouteConfig } from './config.ts';
import { createRouteMetrics } from './metrics.ts';
import { cachedProbe, tcpProbe, type Probe } from './probe.ts';

export interface CimRouteDeps {
  readonly store: RouteStore;
  readonly meta: MetaStore;
  readonly log: Logger;
  readonly clock?: Clock;
  readonly push?: PushTransport;
  readonly probe?: Probe;
}

export interface CimRouteHandle {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

export async function startCimRoute(config: RouteConfig, deps: CimRouteDeps): Promise<CimRouteHandle> {
  const clock = deps.clock ?? systemClock;
  const registry = createMetricsRegistry('cim-route');
  const metrics = createRouteMetrics(registry);
  const push = deps.push ?? new HttpPushTransport({ authSecret: config.authSecret });
  const router = new MessageRouter({ store: deps.store, meta: deps.meta, push, clock, log: deps.log, offlineTtlMs: 3 * 24 * 3600 * 1000, offlineMaxPerUser: 1000 });
  await deps.meta.start();
  metrics.servers.set(deps.meta.servers().length);
  const offWatch = deps.meta.onChange((servers) => {
    metrics.servers.set(servers.length);
    deps.log.info({ servers: servers.map((s) => s.id) }, 'server list changed');
  });
  const app = buildRouteApp({
    store: deps.store,
    router,
    loginDeps: {
      store: deps.store,
      meta: deps.meta,
      strategy: createStrategy(config.strategy as StrategyName),
      probe: deps.probe ?? cachedProbe(tcpProbe(config.probeTimeout), clock),
      pendingTtlMs: config.pendingLoginTtl * 1000,
    },
    registry,
    metrics,
    log: deps.log,
    clock,
    checks: [
      { name: 'route-store', isReady: () => deps.store.isReady() },
      { name: 'meta-store', isReady: () => deps.meta.isReady() },
    ],
    authSecret: config.authSecret,
    tokenTtlMs: config.tokenTtl * 1000,
  });
  await app.listen({ host: config.host, port: config.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  deps.log.info({ port, strategy: config.strategy }, 'cim-route started');
  return {
    port,
    url: `http://${host}:${port}`,
    async stop() {
      offWatch();
      await app.close();
      push.close?.();
    },
  };
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseCommandLine(routeOptionSpecs, argv, env, { command: 'cim route', summary: 'Registers accounts, logs users in, picks servers, routes private and group messages.' });
  if (!parsed.ok) return parsed.exitCode;
  const config = parsed.options;
  const log = createLogger('cim-route', config.logLevel as LogLevel);
  const store = new RedisRouteStore(config.redisUrl, config.redisPassword ? { password: config.redisPassword } : {});
  store.client.on('error', (err) => log.warn({ err: err.message }, 'redis error'));
  const meta = new ZkMetaStore({ connect: config.zkConnect, root: config.zkRoot, sessionTimeoutMs: config.zkSessionTimeout, log });
  const route = await startCimRoute(config, { store, meta, log });
  await waitForSignal(log);
  await route.stop();
  await meta.close();
  await store.close();
  return 0;
}
