/** The server's HTTP API (fastify): CIM's /sendMsg, the batch /push, health and metrics. Never listens. */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { createHttpApp, registerOpsRoutes, type ReadinessCheck } from '../../common/src/http.ts';
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
  readonly authSecret?: string | undefined;
  /** 'cim': CIM's /sendMsg stays open (CIM's route calls it without a credential); /push needs the secret when one is set */
  readonly authMode?: 'cim' | 'password';
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
  registerOpsRoutes(app, deps.registry, deps.checks, deps.isShuttingDown);

  if (deps.authMode === 'password' && !deps.authSecret) throw new Error('--auth password needs --auth-secret (the secret shared with the routes)');
  const expectedAuth = deps.authSecret ? Buffer.from(pushAuthHeader(deps.authSecret)) : undefined;
  /** Pushes come from holders of the shared secret only (routes, other servers); compared in constant time. */
  const checkAuth = async (req: { headers: Record<string, unknown> }, reply: { code(n: number): { send(b: unknown): unknown } }) => {
    if (!expectedAuth) return undefined;
    const given = req.headers['x-cim-push-auth'];
    const buf = typeof given === 'string' ? Buffer.from(given) : Buffer.alloc(0);
    if (buf.length !== expectedAuth.length || !timingSafeEqual(buf, expectedAuth)) return reply.code(403).send(envelope(Status.UNAUTHORIZED, null));
    return undefined;
  };
  // CIM's route calls /sendMsg without credentials: open in cim mode, like CIM; protected otherwise.
  const sendMsgAuth = deps.authMode === 'cim' ? [] : [checkAuth];

  // CIM compatible: same body, always {"msg":"OK"} (CIM answers OK even when the user is not here).
  app.post<{ Body: SendMsgBody }>(
    '/sendMsg',
    { schema: { body: sendMsgSchema, response: { 200: envelopeSchema({ type: 'object', properties: { msg: { type: 'string' } }, additionalProperties: false }) } }, preHandler: sendMsgAuth },
    async (req) => {
      const { userId, msg, batchMsg, cmd, properties } = req.body;
      deps.node.handlePush({
        receivers: [userId],
        ...(batchMsg && batchMsg.length > 0 ? { batchMsg } : { msg: msg ?? '' }),
        cmd: cmd ?? 'MESSAGE',
        properties,
      });
      return envelope(Status.SUCCESS, { msg: 'OK' });
    },
  );

  app.post<{ Body: PushRequest }>(
    '/push',
    {
      schema: {
        body: pushRequestSchema,
        response: {
          200: envelopeSchema({
            type: 'object',
            additionalProperties: false,
            properties: { delivered: { type: 'integer' }, offline: { type: 'array', items: { type: 'integer' } } },
          }),
        },
      },
      preHandler: checkAuth,
    },
    async (req) => envelope(Status.SUCCESS, deps.node.handlePush(req.body)),
  );

  const resultSchema = { type: 'object', additionalProperties: false, properties: { delivered: { type: 'integer' }, offline: { type: 'array', items: { type: 'integer' } } } };
  app.post<{ Body: { pushes: PushRequest[] } }>(
    '/push/batch',
    {
      schema: { body: pushBatchSchema, response: { 200: envelopeSchema({ type: 'object', additionalProperties: false, properties: { results: { type: 'array', items: resultSchema } } }) } },
      preHandler: checkAuth,
    },
    async (req) => envelope(Status.SUCCESS, { results: req.body.pushes.map((p) => deps.node.handlePush(p)) }),
  );

  return app;
}
