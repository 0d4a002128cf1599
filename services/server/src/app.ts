/**
 * The server's HTTP API (fastify): CIM's /sendMsg, the batch /push, health and metrics. Never listens. With
 * --internal-port the push endpoints live on a second app (buildInternalApp) that only peers reach.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { createHttpApp, instrumentRequests, registerOpsRoutes, type ReadinessCheck } from '../../common/src/http.ts';
import type { Logger } from '../../common/src/log.ts';
import type { TlsMaterial } from '../../common/src/tls.ts';
import { pushAuthHeader, pushBatchSchema, pushRequestSchema, type PushRequest } from '../../common/src/push.ts';
import { envelope, envelopeSchema, Status } from '../../common/src/status.ts';
import type { ServerNode } from './node.ts';

export interface ServerAppDeps {
  readonly node: ServerNode;
  readonly registry: Registry;
  readonly log: Logger;
  readonly checks: readonly ReadinessCheck[];
  readonly isShuttingDown: () => boolean;
  /** required: every push is authenticated with it, in every mode */
  readonly authSecret?: string | undefined;
  /** 'cim': CIM's /sendMsg stays open on the public port (CIM's route calls it there without a credential) */
  readonly authMode?: 'cim' | 'password';
  /** --internal-port set: the push endpoints are served by buildInternalApp, and this app answers 404 for them */
  readonly internalPort?: boolean;
  /** false: /metrics is served on --metrics-port instead */
  readonly metrics?: boolean;
  readonly bodyLimitBytes?: number;
  /** --tls-cert/--tls-key: HTTPS and WSS on this port */
  readonly https?: TlsMaterial | undefined;
}

/** CIM's SendMsgReqVO; `cmd` is an enum name, as fastjson writes it. */
const sendMsgSchema = {
  type: 'object',
  required: ['userId', 'properties'],
  anyOf: [{ required: ['msg'] }, { required: ['batchMsg'], properties: { batchMsg: { type: 'array', minItems: 1 } } }],
  properties: {
    msg: { type: ['string', 'null'] },
    batchMsg: { type: ['array', 'null'], items: { type: 'string' } },
    userId: { type: 'integer', minimum: 1 },
    cmd: { type: 'string', enum: ['MESSAGE', 'OFFLINE'] },
    properties: { type: 'object', additionalProperties: { type: 'string' } },
  },
} as const;

interface SendMsgBody {
  msg?: string | null;
  batchMsg?: string[] | null;
  userId: number;
  cmd?: 'MESSAGE' | 'OFFLINE';
  properties: Record<string, string>;
}

export function buildServerApp(deps: ServerAppDeps): FastifyInstance {
  const app = createHttpApp(deps.log, deps.bodyLimitBytes ?? 4 * 1024 * 1024, deps.https);
  registerOpsRoutes(app, deps.registry, deps.checks, deps.isShuttingDown, { metrics: deps.metrics !== false });
  const checkAuth = pushAuth(deps);
  // CIM's route calls /sendMsg on this port without credentials: open in cim mode, like CIM.
  if (deps.authMode === 'cim') registerSendMsg(app, deps.node, []);
  if (!deps.internalPort) {
    if (deps.authMode !== 'cim') registerSendMsg(app, deps.node, [checkAuth]);
    registerPushRoutes(app, deps.node, checkAuth);
  }
  return app;
}

/** --internal-port: the push endpoints (and, outside cim mode, /sendMsg), for routes and other servers only. */
export function buildInternalApp(deps: ServerAppDeps): FastifyInstance {
  const app = createHttpApp(deps.log, deps.bodyLimitBytes ?? 4 * 1024 * 1024, deps.https);
  instrumentRequests(app, deps.registry);
  const checkAuth = pushAuth(deps);
  if (deps.authMode !== 'cim') registerSendMsg(app, deps.node, [checkAuth]);
  registerPushRoutes(app, deps.node, checkAuth);
  return app;
}

type Reply = { code(n: number): { send(b: unknown): unknown } };
type AuthHook = (req: { headers: Record<string, unknown> }, reply: Reply) => Promise<unknown>;

/** Pushes come from holders of the shared secret only (routes, other servers), in every mode; compared in constant time. */
function pushAuth(deps: ServerAppDeps): AuthHook {
  if (!deps.authSecret) throw new Error('cim server needs --auth-secret in every --auth mode: pushes (/push, /push/batch) are always authenticated with it');
  const expectedAuth = Buffer.from(pushAuthHeader(deps.authSecret));
  return async (req, reply) => {
    const given = req.headers['x-cim-push-auth'];
    const buf = typeof given === 'string' ? Buffer.from(given) : Buffer.alloc(0);
    if (buf.length !== expectedAuth.length || !timingSafeEqual(buf, expectedAuth)) return reply.code(403).send(envelope(Status.UNAUTHORIZED, null));
    return undefined;
  };
}

/** CIM compatible: same body, always {"msg":"OK"} (CIM answers OK even when the user is not here). */
function registerSendMsg(app: FastifyInstance, node: ServerNode, preHandler: AuthHook[]): void {
  app.post<{ Body: SendMsgBody }>(
    '/sendMsg',
    { schema: { body: sendMsgSchema, response: { 200: envelopeSchema({ type: 'object', properties: { msg: { type: 'string' } }, additionalProperties: false }) } }, preHandler },
    async (req) => {
      const { userId, msg, batchMsg, cmd, properties } = req.body;
      node.handlePush({
        receivers: [userId],
        ...(batchMsg && batchMsg.length > 0 ? { batchMsg } : { msg: msg ?? '' }),
        cmd: cmd ?? 'MESSAGE',
        properties,
      });
      return envelope(Status.SUCCESS, { msg: 'OK' });
    },
  );
}

const resultSchema = { type: 'object', additionalProperties: false, properties: { delivered: { type: 'integer' }, offline: { type: 'array', items: { type: 'integer' } } } };

function registerPushRoutes(app: FastifyInstance, node: ServerNode, checkAuth: AuthHook): void {
  app.post<{ Body: PushRequest }>(
    '/push',
    { schema: { body: pushRequestSchema, response: { 200: envelopeSchema(resultSchema) } }, preHandler: checkAuth },
    async (req) => envelope(Status.SUCCESS, node.handlePush(req.body)),
  );
  app.post<{ Body: { pushes: PushRequest[] } }>(
    '/push/batch',
    {
      schema: { body: pushBatchSchema, response: { 200: envelopeSchema({ type: 'object', additionalProperties: false, properties: { results: { type: 'array', items: resultSchema } } }) } },
      preHandler: checkAuth,
    },
    async (req) => envelope(Status.SUCCESS, { results: req.body.pushes.map((p) => node.handlePush(p)) }),
  );
}
