/**
 * The client's options: what a caller may set, and their validation and defaults in one place, so the
 * other modules get a complete, checked `ResolvedOptions` and never re-check or re-default anything.
 */
import { backoffDelayMs, DEFAULT_BACKOFF, type BackoffPolicy } from '../../../common/src/backoff.ts';
import { silentLogger, type Logger } from '../../../common/src/log.ts';
import { ClientErrorCode, CimClientError } from './errors.ts';
import { MemorySeenStore, type SeenStore } from './seen-store.ts';
import { checkVia, tlsFetch, type ClientTls, type TransportKind, type Via } from './transport.ts';
import type { ChatMessage } from './events.ts';
import { checkProtocol, type Protocol } from './cim-mode.ts';

export interface ClientOptions {
  /** Base URL of cim-route, e.g. http://127.0.0.1:8083. */
  readonly routeUrl: string;
  /** The account's name; the route checks it against userId at login. */
  readonly userName: string;
  /**
   * The account's password, for a route in password mode (the default of `cim up` and the operator). Kept
   * in memory only: used to register and log in, and to log in again when the refresh token no longer works.
   */
  readonly password?: string;
  /**
   * Instead of a password, for a route with --auth-jwks-url: an OIDC id token, or a function returning a
   * fresh one (called at each login that needs one, so a token that expired meanwhile is replaced).
   */
  readonly idToken?: string | (() => string | Promise<string>);
  /** The account's id. Without it the account is looked up (and created) by name through /registerAccount. */
  readonly userId?: number;
  /**
   * Call /registerAccount before the first login (idempotent by name). Default: true when no userId is
   * given. With a userId, the registered id must match it.
   */
  readonly register?: boolean;
  /** How to reach the server: WebSocket (default) or CIM's TCP framing. Protocol 'cim' forces 'tcp'. */
  readonly transport?: TransportKind;
  /**
   * 'native' (this project's protocol 2), 'cim' (CIM's own client protocol, for CIM's Java route and
   * servers: see cim-mode.ts) or 'auto' (default): cim when the route's /login answer has no protocol-2 fields.
   */
  readonly protocol?: Protocol;
  /** WebSocket straight to the server, through the route's /relay, or 'auto' (default): relay when the route is loopback (a port-forward) and the server is not. */
  readonly via?: Via;
  /** A PING goes out after this long without a write or without a read. Default 10 000 (CIM's 10 s). */
  readonly heartbeatIntervalMs?: number;
  /** The connection is dead when nothing arrives this long after a PING. Default 10 000. */
  readonly pongTimeoutMs?: number;
  /** Bound of each route call, of the connect and of the server's LOGIN_RESPONSE. Default 5 000. */
  readonly requestTimeoutMs?: number;
  /** Bound of a send, from the call to SENT, reconnects and retries included. Default 15 000. */
  readonly sendTimeoutMs?: number;
  /** Sends that may wait for a connection before QUEUE_FULL. Default 1 000. */
  readonly maxQueuedSends?: number;
  /** Largest frame accepted from the server. Default 4 MiB. */
  readonly maxFrameBytes?: number;
  /** Attempts of the first connect when it fails transiently (unreachable, timeout). Default 3; 1 = no retry. */
  readonly connectAttempts?: number;
  /** Delays between reconnect attempts when no retryStrategy is given. Default 0.5 s doubling to 30 s, jittered. */
  readonly backoff?: BackoffPolicy;
  /** Delays before sending again after a retryable MESSAGE_ACK failure (same msgId). Default 0.1 s doubling to 2 s. */
  readonly sendRetryBackoff?: BackoffPolicy;
  /**
   * Delay in ms before reconnect attempt `attempt` (1, 2, …), or null to give up (state → closed,
   * `error` RECONNECT_GAVE_UP). Default: jittered capped exponential backoff from `backoff`, forever.
   */
  readonly retryStrategy?: (attempt: number) => number | null;
  /**
   * Which messages were already shown, by (sender, msgId). Default: an in-memory LRU of 10 000 ids. Pass
   * the same store to a re-created client of the same device (or a persisted one) so nothing shows twice.
   */
  readonly seenStore?: SeenStore;
  /**
   * This installation's device id ([A-Za-z0-9_-]{1,64}), for clusters with --login-policy multi: each device
   * has its own inbox, gets carbon copies of what the user's other devices send, and is told what they read.
   * Keep it stable across restarts (the CLI stores one beside its history); a new id is a new device, which
   * sees older messages through history() only. Default: the user's default device (one device).
   */
  readonly device?: string;
  /** DELIVERED receipts are batched: sent at most this long after the message was handled. Default 20. */
  readonly receiptDelayMs?: number;
  /** … or as soon as this many seqs wait. Default 64. */
  readonly receiptBatchSize?: number;
  /** A seq gap that has not filled within this long triggers a SYNC. Default 1 000. */
  readonly gapTimeoutMs?: number;
  /** A SYNC this often while logged in, for a live push lost with no later message to show the gap. 0 = never. Default 30 000. */
  readonly syncIntervalMs?: number;
  /**
   * Message listener registered before the first connect, so messages pushed right after login
   * (the pending inbox) are not missed. Same as client.on('message', …).
   */
  readonly onMessage?: (message: ChatMessage) => void;
  readonly logger?: Logger;
  /** Random source for jitter, [0, 1). */
  readonly random?: () => number;
  /**
   * CA certificate(s) (PEM) that verify an https:// route and servers speaking TLS (wss://, TLS over TCP), for a
   * private CA (cert-manager, the operator's spec.tls). Default: Node's bundled CAs. Node only.
   */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>;
  /** false accepts any certificate (for testing only; logged as a warning). Default true. */
  readonly rejectUnauthorized?: boolean;
  /** Injected for tests. */
  readonly fetch?: typeof fetch;
}

export interface ResolvedOptions {
  readonly routeUrl: string;
  readonly userName: string;
  readonly userId: number | undefined;
  readonly password: string | undefined;
  readonly idToken: (() => Promise<string>) | undefined;
  readonly register: boolean;
  readonly transport: TransportKind;
  readonly protocol: Protocol;
  readonly via: Via;
  readonly heartbeatIntervalMs: number;
  readonly pongTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly sendTimeoutMs: number;
  readonly maxQueuedSends: number;
  readonly maxFrameBytes: number;
  readonly connectAttempts: number;
  readonly retryStrategy: (attempt: number) => number | null;
  /** Delay before send retry `attempt` (1, 2, …). */
  readonly sendRetryDelay: (attempt: number) => number;
  readonly seenStore: SeenStore;
  readonly device: string | undefined;
  readonly receiptDelayMs: number;
  readonly receiptBatchSize: number;
  readonly gapTimeoutMs: number;
  readonly syncIntervalMs: number;
  readonly logger: Logger;
  readonly random: () => number;
  readonly fetch: typeof fetch | undefined;
  readonly tls: ClientTls;
}

export const DEFAULT_SEND_RETRY_BACKOFF: BackoffPolicy = { initialDelayMs: 100, maxDelayMs: 2_000, multiplier: 2 };

/** Validates `options` and fills in the defaults; throws INVALID_ARGUMENT on the first bad value. */
export function resolveOptions(options: ClientOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw invalid('options must be an object');
  if (typeof options.userName !== 'string' || options.userName.trim() === '') throw invalid('userName must be a non-empty string');
  if (options.password !== undefined && (typeof options.password !== 'string' || options.password === '' || options.password.length > 256)) {
    throw invalid('password must be a non-empty string of at most 256 characters');
  }
  if (options.idToken !== undefined && typeof options.idToken !== 'function' && (typeof options.idToken !== 'string' || options.idToken === '')) {
    throw invalid('idToken must be a non-empty string or a function returning one');
  }
  if (options.idToken !== undefined && options.password !== undefined) throw invalid('give a password or an idToken, not both');
  if (options.userId !== undefined && (!Number.isSafeInteger(options.userId) || options.userId <= 0)) {
    throw invalid(`userId must be a positive integer, got ${String(options.userId)}`);
  }
  if (options.userId === undefined && options.register === false) {
    throw invalid('without userId the account is found by registering; do not set register: false');
  }
  const protocol = checkProtocol(options.protocol);
  const transport = protocol === 'cim' ? 'tcp' : (options.transport ?? 'ws');
  if (transport !== 'ws' && transport !== 'tcp') throw invalid(`transport must be "ws" or "tcp", got ${String(transport)}`);
  const random = options.random ?? Math.random;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const sendRetryBackoff = options.sendRetryBackoff ?? DEFAULT_SEND_RETRY_BACKOFF;
  for (const [name, policy] of [['backoff', backoff], ['sendRetryBackoff', sendRetryBackoff]] as const) {
    positive(policy.initialDelayMs, 1, `${name}.initialDelayMs`);
    positive(policy.maxDelayMs, 1, `${name}.maxDelayMs`);
  }
  if (options.retryStrategy !== undefined && typeof options.retryStrategy !== 'function') throw invalid('retryStrategy must be a function');
  const tls = checkTls(options);
  const logger = (options.logger ?? silentLogger).child({ userName: options.userName });
  if (!tls.rejectUnauthorized) logger.warn('rejectUnauthorized: false — TLS certificates are NOT verified (for testing only)');
  const seenStore = options.seenStore ?? new MemorySeenStore();
  if (typeof seenStore.has !== 'function' || typeof seenStore.add !== 'function') throw invalid('seenStore must have has() and add()');
  if (options.device !== undefined && (typeof options.device !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(options.device))) throw invalid('device must match [A-Za-z0-9_-]{1,64}');
  return {
    device: options.device,
    routeUrl: options.routeUrl,
    userName: options.userName,
    userId: options.userId,
    password: options.password,
    idToken: idTokenSource(options.idToken),
    register: options.register ?? options.userId === undefined,
    transport,
    protocol,
    // CIM's servers have TCP only: a relay makes no sense there.
    via: protocol === 'cim' ? 'direct' : checkVia(options.via, transport),
    heartbeatIntervalMs: positive(options.heartbeatIntervalMs, 10_000, 'heartbeatIntervalMs'),
    pongTimeoutMs: positive(options.pongTimeoutMs, 10_000, 'pongTimeoutMs'),
    requestTimeoutMs: positive(options.requestTimeoutMs, 5_000, 'requestTimeoutMs'),
    sendTimeoutMs: positive(options.sendTimeoutMs, 15_000, 'sendTimeoutMs'),
    maxQueuedSends: Math.floor(positive(options.maxQueuedSends, 1_000, 'maxQueuedSends')),
    maxFrameBytes: positive(options.maxFrameBytes, 4 * 1024 * 1024, 'maxFrameBytes'),
    connectAttempts: Math.floor(positive(options.connectAttempts, 3, 'connectAttempts')),
    retryStrategy: options.retryStrategy ?? ((attempt) => backoffDelayMs(attempt, backoff, random)),
    sendRetryDelay: (attempt) => backoffDelayMs(attempt, sendRetryBackoff, random),
    seenStore,
    receiptDelayMs: positive(options.receiptDelayMs, 20, 'receiptDelayMs'),
    receiptBatchSize: Math.floor(positive(options.receiptBatchSize, 64, 'receiptBatchSize')),
    gapTimeoutMs: positive(options.gapTimeoutMs, 1_000, 'gapTimeoutMs'),
    syncIntervalMs: options.syncIntervalMs === 0 ? 0 : positive(options.syncIntervalMs, 30_000, 'syncIntervalMs'),
    logger,
    random,
    // Node's fetch cannot take a CA (see tls-fetch.ts): with one, the route is called through node:https.
    fetch: options.fetch ?? (tls.ca !== undefined || !tls.rejectUnauthorized ? tlsFetch(tls) : undefined),
    tls,
  };
}

function checkTls(options: ClientOptions): ClientTls {
  const { ca, rejectUnauthorized } = options;
  if (rejectUnauthorized !== undefined && typeof rejectUnauthorized !== 'boolean') throw invalid('rejectUnauthorized must be a boolean');
  // Uint8Array, not Buffer: this module is in the browser bundle too.
  const pem = (v: unknown) => (typeof v === 'string' ? v : v instanceof Uint8Array ? new TextDecoder().decode(v) : '').includes('-----BEGIN CERTIFICATE-----');
  if (ca !== undefined && !(Array.isArray(ca) ? ca.length > 0 && ca.every(pem) : pem(ca))) throw invalid('ca must be PEM certificate text (a string or Buffer with -----BEGIN CERTIFICATE-----), or an array of them');
  return { rejectUnauthorized: rejectUnauthorized ?? true, ...(ca !== undefined ? { ca } : {}) };
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw invalid(`${name} must be a positive number, got ${String(value)}`);
  return value;
}

function invalid(message: string): CimClientError {
  return new CimClientError(ClientErrorCode.INVALID_ARGUMENT, message);
}

/** The id token as a function giving a checked, fresh token each time. */
function idTokenSource(idToken: ClientOptions['idToken']): (() => Promise<string>) | undefined {
  if (idToken === undefined) return undefined;
  return async () => {
    const token = typeof idToken === 'function' ? await idToken() : idToken;
    if (typeof token !== 'string' || token.trim() === '') throw invalid('the idToken function returned no token');
    return token.trim();
  };
}
