/**
 * What every HTTP service here shares: liveness/readiness/metrics endpoints and the error handler
 * that turns bad input into CIM's envelope (code 3000) instead of a 500.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from './log.ts';
import type { TlsMaterial } from './tls.ts';
import type { Registry } from 'prom-client';
import { Histogram } from 'prom-client';
import { Codes } from './codes.ts';
import { envelope, Status } from './status.ts';

/** A fastify instance with our logger, no per-request log lines (too many for a messaging hot path) and our error handler. */
export function createHttpApp(log: Logger, bodyLimitBytes: number, https?: TlsMaterial): FastifyInstance {
  const app = Fastify({
    // With TLS material: an https.Server (HTTP/1.1, so WebSocket upgrades work); its context is swapped on reload (tls.ts).
    ...(https ? { https: { ...https } } : {}),
    loggerInstance: log as FastifyBaseLogger,
    bodyLimit: bodyLimitBytes,
    logController: new LogController({ disableRequestLogging: true }),
  }) as unknown as FastifyInstance;
  installErrorHandler(app);
  return app;
}

export interface ReadinessCheck {
  readonly name: string;
  isReady(): boolean;
}

/** `metrics: false`: /metrics is served on its own port instead (--metrics-port, createMetricsApp). */
export function registerOpsRoutes(app: FastifyInstance, registry: Registry, checks: readonly ReadinessCheck[], isShuttingDown: () => boolean = () => false, options: { readonly metrics?: boolean } = {}): void {
  app.get('/healthz', { logLevel: 'warn' }, async () => ({ status: 'ok' }));
  app.get('/readyz', { logLevel: 'warn' }, async (_req, reply) => {
    const failing = checks.filter((c) => !c.isReady()).map((c) => c.name);
    if (isShuttingDown()) failing.push('shutting-down');
    if (failing.length > 0) return reply.code(503).send({ status: 'not ready', failing });
    return { status: 'ready' };
  });
  if (options.metrics !== false) registerMetricsRoute(app, registry);
  instrumentRequests(app, registry);
}

function registerMetricsRoute(app: FastifyInstance, registry: Registry): void {
  app.get('/metrics', { logLevel: 'warn' }, async (_req, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
}

/** Request durations of every app of a process (public, internal) into one histogram of its registry. */
export function instrumentRequests(app: FastifyInstance, registry: Registry): void {
  const name = 'cim_http_request_duration_seconds';
  const duration = (registry.getSingleMetric(name) as Histogram<'method' | 'route' | 'status_code'> | undefined) ?? new Histogram({
    name,
    help: 'HTTP request duration by route and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    // 0.2: the bound the capacity targets name (route /login p99 during a failover storm).
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  app.addHook('onResponse', async (req, reply) => {
    duration.observe({ method: req.method, route: req.routeOptions.url ?? 'unknown', status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
}

/**
 * --metrics-port: an app serving only /metrics (everything else 404). Plain HTTP even when the main port has
 * TLS: Prometheus scrapes it inside the cluster without the clients' CA, and it carries no credential.
 */
export function createMetricsApp(log: Logger, registry: Registry): FastifyInstance {
  const app = createHttpApp(log, 1024);
  registerMetricsRoute(app, registry);
  return app;
}

/**
 * Validation errors answer CIM's 3000 with HTTP 200 (CIM's clients read the code, not the status);
 * a body that is not JSON at all answers HTTP 400 with the same envelope. Nothing else leaks details.
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.validation) {
      return reply.code(200).send(envelope(Status.VALIDATION_FAIL, null, `${Status.VALIDATION_FAIL.message}: ${error.message}`));
    }
    // Rate limits (@fastify/rate-limit on the route): the catalogue's retryable 7400, HTTP 429.
    if (error.statusCode === 429) return reply.code(429).send(envelope(Codes.RATE_LIMITED, null, `${Codes.RATE_LIMITED.message}: ${error.message}`));
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send(envelope(Status.VALIDATION_FAIL, null, `${Status.VALIDATION_FAIL.message}: ${error.message}`));
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send(envelope(Status.FAIL, null));
  });
  // A code of the catalogue (3000: the request names nothing that exists), never an invented one.
  app.setNotFoundHandler((request, reply) => reply.code(404).send(envelope(Status.VALIDATION_FAIL, null, `${Status.VALIDATION_FAIL.message}: no route ${request.method} ${request.url.slice(0, 200)}`)));
}
