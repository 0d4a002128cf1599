/** cim-route's HTTP API (fastify), byte-compatible with CIM's RouteController. Never listens. */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import swagger from '@fastify/swagger';
import { MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS } from '../../common/src/auth-password.ts';
import { MAX_TOKEN_CHARS } from '../../common/src/auth.ts';
import { Codes } from '../../common/src/codes.ts';
import type { Clock } from '../../common/src/clock.ts';
import { createHttpApp, registerOpsRoutes, type ReadinessCheck } from '../../common/src/http.ts';
import type { Logger } from '../../common/src/log.ts';
import { DeliveryError, type MessageRouter } from '../../common/src/message-router.ts';
import { DEFAULT_MAX_MESSAGE_BYTES, messageTooLarge } from '../../common/src/message-size.ts';
import type { RouteStore } from '../../common/src/route-store/types.ts';
import { clientAddress } from '../../common/src/server-address.ts';
import { envelope, envelopeSchema, Status } from '../../common/src/status.ts';
import { externalLogin, idTokenSchema, registerAuthRoutes } from './auth-routes.ts';
import { registerHistoryRoutes } from './history-routes.ts';
import { registerFileRoutes, type FileRoutesDeps } from './files-routes.ts';
import { registerGroupRoutes } from './groups-routes.ts';
import { registerContactRoutes } from './contacts-routes.ts';
import type { ContactStore } from '../../common/src/contacts/types.ts';
import type { GroupStore } from '../../common/src/groups/types.ts';
import { DEFAULT_GROUP_MAX_MEMBERS } from '../../common/src/groups/types.ts';
import type { HistoryStore } from '../../common/src/history/types.ts';
import type { RouteAuth } from './auth.ts';
import { login, type LoginDeps } from './login.ts';
import type { RouteMetrics } from './metrics.ts';
import type { TlsMaterial } from '../../common/src/tls.ts';

export interface RouteAppDeps {
  readonly store: RouteStore;
  readonly router: MessageRouter;
  /** conversations' server-side history (POST /history); absent = off (--history-max 0) */
  readonly history?: HistoryStore | undefined;
  /** named groups (POST /groups/*); absent = none */
  readonly groups?: GroupStore | undefined;
  /** --group-max-members */
  readonly groupMaxMembers?: number;
  /** contacts and "only contacts" (POST /contacts/*); absent = none */
  readonly contacts?: ContactStore | undefined;
  readonly loginDeps: LoginDeps;
  readonly registry: Registry;
  readonly metrics: RouteMetrics;
  readonly log: Logger;
  readonly clock: Clock;
  readonly checks: readonly ReadinessCheck[];
  /** the auth mode and its state (auth.ts) */
  readonly auth: RouteAuth;
  /** 'external': answer /login with the server's published external address (Kubernetes external access). */
  readonly advertise?: 'internal' | 'external';
  /** largest message text in UTF-8 bytes (default DEFAULT_MAX_MESSAGE_BYTES) */
  readonly maxMessageBytes?: number;
  /** calls per client address and minute; 0 or absent = unlimited */
  readonly rateLimits?: { readonly registerPerMinute: number; readonly loginPerMinute: number };
  /** --tls-cert/--tls-key: HTTPS (and WSS for /relay) on the route's port */
  readonly https?: TlsMaterial | undefined;
  /** false: /metrics is served on --metrics-port instead */
  readonly metricsRoute?: boolean;
  /** file messages (PUT/GET /files, files-routes.ts); absent = no such endpoints */
  readonly files?: Omit<FileRoutesDeps, 'auth' | 'clock' | 'log'> | undefined;
}

// Names as CIM accepts them (`:`, `;`, spaces, any script) up to a generous length, except what is dangerous on a
// terminal or in logs: control characters (C0, DEL, C1), line/paragraph separators and bidi overrides
// (spoofing), blank names and leading/trailing whitespace (" alice" would look like "alice"). docs/client.md.
export const MAX_USER_NAME_CHARS = 256;
export { body as requestBody, token as tokenSchema, userId as userIdSchema };

const userId = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;
const userName = { type: 'string', minLength: 1, maxLength: MAX_USER_NAME_CHARS, pattern: '^(?!\\s)(?!.*\\s$)[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]+$' } as const;
// Sizes are checked in bytes by messageTooLarge, the same check as the servers' (not by schema, in characters).
const text = { type: 'string', minLength: 1 } as const;
const token = { type: 'string', maxLength: MAX_TOKEN_CHARS } as const;
export const passwordSchema = { type: 'string', minLength: MIN_PASSWORD_CHARS, maxLength: MAX_PASSWORD_CHARS } as const;
// CIM's BaseRequest fields; accepted and ignored, as CIM does.
const base = { reqNo: { type: ['string', 'null'] }, timeStamp: { type: ['integer', 'null'] } } as const;
const body = (required: string[], properties: object, extra: object = {}) => ({ type: 'object', required, properties: { ...base, ...properties }, ...extra });

const accountSchema = { type: 'object', additionalProperties: false, properties: { userId: { type: 'integer' }, userName: { type: 'string' } } };
const serverSchema = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    ip: { type: 'string' }, cimServerPort: { type: 'integer' }, httpPort: { type: 'integer' }, wsPath: { type: 'string' },
    userId: { type: 'integer' }, userName: { type: 'string' },
    tls: { type: 'boolean' }, tlsTcp: { type: 'boolean' }, tlsName: { type: 'string' },
    token: { type: 'string' }, refreshToken: { type: 'string' }, expiresIn: { type: 'integer' },
  },
};
/** `host:tcpPort:httpPort`, as registered in ZooKeeper. */
const serverAddress = { type: 'string', maxLength: 300, pattern: '^[^:\\s]+:[0-9]{1,5}:[0-9]{1,5}$' } as const;
const emptyResponse = { response: { 200: envelopeSchema({ type: 'null' }) } };

interface SenderBody {
  userId: number;
  token?: string;
}

/** Who called: the client address the per-address limits count. */
const addressOf = (req: { ip: string }) => req.ip;

export function buildRouteApp(deps: RouteAppDeps): FastifyInstance {
  const maxMessageBytes = deps.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  // Room for one message of the maximum size JSON-escaped (quotes and backslashes double), and the rest of the body.
  const app = createHttpApp(deps.log, Math.max(256 * 1024, 2 * maxMessageBytes + 64 * 1024), deps.https);
  // OpenAPI from the routes' own schemas (GET /openapi.json); loaded before any route is declared.
  app.register(swagger, { openapi: { info: { title: 'cim-route', version: '0.1.0', description: 'CIM-compatible route API (docs/delivery.md, docs/codes.md)' } } });
  // Every route is declared inside this scope, which loads after swagger: swagger sees them all.
  app.register(async (api) => {
    api.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
    registerOpsRoutes(api, deps.registry, deps.checks, undefined, { metrics: deps.metricsRoute !== false });
    const { auth } = deps;
    const passwordMode = auth.mode === 'password';
    /** The one size check of every path: VALIDATION_FAIL with the same reason as an in-band MESSAGE_ACK. */
    const oversize = (texts: readonly string[]) => {
      for (const t of texts) {
        const reason = messageTooLarge(t, maxMessageBytes);
        if (reason) return envelope(Status.VALIDATION_FAIL, null, `${Status.VALIDATION_FAIL.message}: ${reason}`);
      }
      return undefined;
    };
    /** Per-address limits of /registerAccount and /login (fixed one-minute windows); HTTP 429 + 7400 beyond. */
    const perMinute = (max: number | undefined) => (max ? { config: { rateLimit: { max, timeWindow: 60_000 } } } : {});

    /** Password mode: endpoints that act for a user need that user's valid, unrevoked token. */
    const unauthorized = async (b: SenderBody) => {
      if (!passwordMode) return undefined;
      const checked = await auth.authorize(b.userId, b.token);
      return checked.ok ? undefined : envelope(checked.code);
    };

    // The rate-limit plugin must be loaded before the routes it limits are declared: one scope for both.
    api.register(async (scope) => {
      await scope.register(rateLimit, { global: false });
      // With --auth-jwks-url an id token may stand in for the password (auth-routes.ts).
      const idTokens = passwordMode && auth.acceptsIdTokens;
      scope.post<{ Body: { userName: string; password?: string; idToken?: string } }>(
        '/registerAccount',
        { ...perMinute(deps.rateLimits?.registerPerMinute), schema: { body: body(passwordMode && !idTokens ? ['userName', 'password'] : ['userName'], { userName, password: passwordSchema, ...(idTokens ? { idToken: idTokenSchema } : {}) }, idTokens ? { anyOf: [{ required: ['password'] }, { required: ['idToken'] }] } : {}), response: { 200: envelopeSchema({ ...accountSchema, type: ['object', 'null'] }) } } },
        async (req) => {
          deps.metrics.registrations.inc();
          if (!passwordMode) return envelope(Status.SUCCESS, await deps.store.registerAccount(req.body.userName));
          if (req.body.idToken !== undefined) {
            const ext = await externalLogin(auth, req.body.idToken, { userName: req.body.userName }, addressOf(req));
            return ext.ok ? envelope(Status.SUCCESS, ext.account) : envelope(ext.code);
          }
          // The schema requires the password in this mode (and so tells clients, in /openapi.json).
          const registered = await auth.register(req.body.userName, req.body.password!, addressOf(req));
          return registered.ok ? envelope(Status.SUCCESS, registered.account) : envelope(registered.code);
        },
      );

      scope.post<{ Body: { userId: number; userName: string; protocol?: number; password?: string; token?: string; idToken?: string } }>(
        '/login',
        {
          ...perMinute(deps.rateLimits?.loginPerMinute),
          schema: {
            // An id token names the user itself: then userId and userName may be left out (the answer carries them).
            body: body(
              idTokens ? [] : ['userId', 'userName'],
              { userId, userName: { type: 'string', maxLength: 256 }, protocol: { type: 'integer', minimum: 1, maximum: 100 }, password: { type: 'string', maxLength: MAX_PASSWORD_CHARS }, token, ...(idTokens ? { idToken: idTokenSchema } : {}) },
              idTokens ? { anyOf: [{ required: ['userId', 'userName'] }, { required: ['idToken'] }] } : {},
            ),
            response: { 200: envelopeSchema(serverSchema) },
          },
        },
        async (req, reply) => {
          let { userId: uid, userName: name } = req.body;
          const { protocol } = req.body;
          // Password mode: the password (a new session), an id token, or a valid token of this user (the SDK's reconnect).
          let grant: { token: string; refreshToken: string; expiresIn: number } | undefined;
          if (passwordMode) {
            if (req.body.idToken !== undefined) {
              const ext = await externalLogin(auth, req.body.idToken, req.body, addressOf(req));
              if (!ext.ok) {
                deps.metrics.logins.inc({ result: ext.code === Codes.LOGIN_THROTTLED ? 'throttled' : ext.code === Codes.IDP_UNAVAILABLE ? 'idp_unavailable' : 'bad_credentials' });
                return envelope(ext.code);
              }
              ({ userId: uid, userName: name } = ext.account);
            } else if (req.body.password === undefined && req.body.token !== undefined) {
              const checked = await auth.authorize(uid, req.body.token);
              if (!checked.ok) return envelope(checked.code);
              grant = { token: req.body.token, refreshToken: '', expiresIn: Math.max(0, Math.floor((checked.claims.expiresAtMs - deps.clock.now()) / 1000)) };
            } else {
              const refused = await auth.checkPassword(uid, req.body.password, addressOf(req));
              if (refused) {
                deps.metrics.logins.inc({ result: refused === Codes.LOGIN_THROTTLED ? 'throttled' : refused === Codes.IDP_UNAVAILABLE ? 'idp_unavailable' : 'bad_credentials' });
                return envelope(refused);
              }
            }
          }
          // The requester's connection closed (its timeout, while a stalled Redis answered): it will try again.
          // (The response, not the request: a request is destroyed as soon as its body was read.)
          const outcome = await login(deps.loginDeps, uid, name, () => reply.raw.destroyed);
          deps.metrics.logins.inc({ result: outcome.kind });
          switch (outcome.kind) {
            case 'account_mismatch':
              return envelope(Status.ACCOUNT_NOT_MATCH);
            case 'repeat':
              return envelope(Status.REPEAT_LOGIN);
            case 'no_server':
            case 'abandoned': // nobody reads this answer
              return envelope(Status.SERVER_NOT_AVAILABLE);
            case 'ok': {
              const { host, tcpPort, httpPort } = clientAddress(outcome.server, deps.advertise ?? 'internal');
              const { data } = outcome.server;
              req.log.debug({ userId: uid, server: outcome.server.id }, 'login routed');
              // CIM's Java SDK rejects unknown fields, so extensions appear only for protocol >= 2 clients.
              if (!protocol || protocol < 2) return envelope(Status.SUCCESS, { ip: host, cimServerPort: tcpPort, httpPort });
              // Issued only now: a refused login leaves no session behind.
              grant ??= passwordMode ? await auth.issue(uid) : undefined;
              // tls: the server speaks TLS (wss://; tlsTcp: its TCP port too), its certificate verified against tlsName, else ip.
              const tls = data?.tls ? { tls: true, tlsTcp: data.tls.tcp, ...(data.tls.name ? { tlsName: data.tls.name } : {}) } : {};
              const who = req.body.idToken !== undefined ? { userId: uid, userName: name } : {};
              return envelope(Status.SUCCESS, { ip: host, cimServerPort: tcpPort, httpPort, wsPath: data?.wsPath ?? '/ws', ...tls, ...who, token: grant?.token ?? '', ...(grant ? { refreshToken: grant.refreshToken, expiresIn: grant.expiresIn } : {}) });
            }
          }
        },
      );
    });

    registerAuthRoutes(api, auth, addressOf);

    // With `server` (the SDK's, before a reconnect) only a route that still names that server is removed,
    // so two clients of one user never knock each other off; without it, CIM's behaviour. In password mode
    // it is a logout: the token and its session are revoked, unless `keepSession` (the SDK's reconnect).
    api.post<{ Body: SenderBody & { msg?: string | null; server?: string; keepSession?: boolean } }>(
      '/offLine',
      { schema: { body: body(['userId'], { userId, msg: { type: ['string', 'null'] }, token, server: serverAddress, keepSession: { type: 'boolean' } }), ...emptyResponse } },
      async (req) => {
        if (passwordMode) {
          const checked = await auth.authorize(req.body.userId, req.body.token);
          if (!checked.ok) return envelope(checked.code);
          if (!req.body.keepSession) await auth.revoke(checked.claims);
        }
        // takeover, multi: another session of the user may be online on the same server (the newer one, other
        // devices); that server clears the route when the user's last session there closes.
        if ((deps.loginDeps.policy ?? 'reject') === 'reject') await deps.store.logout(req.body.userId, req.body.server);
        return envelope(Status.SUCCESS);
      },
    );

    api.post<{ Body: SenderBody & { msg: string } }>(
      '/groupRoute',
      { schema: { body: body(['userId', 'msg'], { userId, msg: text, token, batchMsg: { type: ['array', 'null'] } }), ...emptyResponse } },
      async (req) => {
        const refused = await unauthorized(req.body);
        if (refused) return refused;
        const tooLarge = oversize([req.body.msg]);
        if (tooLarge) return tooLarge;
        const from = await deps.router.account(req.body.userId);
        if (!from) return envelope(Status.SUCCESS); // CIM drops messages of unknown senders silently
        const delivered = await deps.router.sendGroup(from, { text: req.body.msg });
        deps.metrics.messages.inc({ kind: 'group', result: 'delivered' }, delivered);
        return envelope(Status.SUCCESS);
      },
    );

    api.post<{ Body: SenderBody & { receiveUserId: number; msg?: string | null; batchMsg?: string[] | null } }>(
      '/p2pRoute',
      {
        schema: {
          body: body(
            ['userId', 'receiveUserId'],
            { userId, receiveUserId: userId, msg: { type: ['string', 'null'] }, batchMsg: { type: ['array', 'null'], maxItems: 100, items: text }, token },
            { anyOf: [{ required: ['msg'], properties: { msg: { type: 'string', minLength: 1 } } }, { required: ['batchMsg'], properties: { batchMsg: { type: 'array', minItems: 1 } } }] },
          ),
          ...emptyResponse,
        },
      },
      async (req) => {
        const refused = await unauthorized(req.body);
        if (refused) return refused;
        const { receiveUserId, msg, batchMsg } = req.body;
        const tooLarge = oversize(batchMsg ?? [msg ?? '']);
        if (tooLarge) return tooLarge;
        const from = await deps.router.account(req.body.userId);
        if (!from) return envelope(Status.SUCCESS); // as CIM: unknown senders are dropped
        // Each text is its own message (own msgId and seq): stored first, then pushed live.
        const texts = batchMsg && batchMsg.length > 0 ? batchMsg : [msg ?? ''];
        let live = false;
        for (const text of texts) {
          try {
            const sent = await deps.router.sendPrivate(from, receiveUserId, { text });
            live = (await sent.push()) || live;
          } catch (err) {
            if (!(err instanceof DeliveryError)) throw err;
            deps.metrics.messages.inc({ kind: 'p2p', result: 'failed' });
            if (err.wire.retryable) req.log.warn({ err, receiveUserId }, 'p2p message not stored');
            return envelope(err.wire);
          }
        }
        // CIM's answers: 9000 when the receiver got it live, 7000 when it waits in the inbox for the next login.
        deps.metrics.messages.inc({ kind: 'p2p', result: live ? 'delivered' : 'offline' }, texts.length);
        return live ? envelope(Status.SUCCESS) : envelope(Status.OFF_LINE);
      },
    );

    registerHistoryRoutes(api, { history: deps.history, groups: deps.groups, auth, tokenSchema: token });
    if (deps.files) registerFileRoutes(api, { ...deps.files, auth, clock: deps.clock, log: deps.log });
    if (deps.contacts) registerContactRoutes(api, { contacts: deps.contacts, accounts: deps.store, auth, tokenSchema: token });
    if (deps.groups) registerGroupRoutes(api, { groups: deps.groups, router: deps.router, accounts: deps.store, auth, tokenSchema: token, maxMembers: deps.groupMaxMembers ?? DEFAULT_GROUP_MAX_MEMBERS, maxMessageBytes, clock: deps.clock });

    api.get('/onlineUser', { schema: { response: { 200: envelopeSchema({ type: ['array', 'null'], items: accountSchema }) } } }, async () => {
      const users = await deps.store.onlineUsers();
      // CIM answers null, not [], when nobody is online.
      return envelope(Status.SUCCESS, users.length > 0 ? users : null);
    });

    api.post<{ Body: { receiveUserId: number; token?: string } }>(
      '/fetchOfflineMsgs',
      { schema: { body: body(['receiveUserId'], { receiveUserId: userId, token }), ...emptyResponse } },
      async (req) => {
        const refused = await unauthorized({ userId: req.body.receiveUserId, ...(req.body.token !== undefined ? { token: req.body.token } : {}) });
        if (refused) return refused;
        // Kept for CIM's clients, which call it after start: the server already pushed the pending inbox
        // at login (and pushes it at every login), so there is nothing left to do here.
        return envelope(Status.SUCCESS);
      },
    );
  });

  return app;
}
