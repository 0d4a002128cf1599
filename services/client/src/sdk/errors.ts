/**
 * Every error the SDK hands to a caller is a CimClientError with a stable `code`. `retryable` tells
 * whether trying the same thing again later can succeed; `serverCode` carries the route's or the
 * server's status string (reference §3.1: "5000", "7000", "9100", …) when one was received.
 */
import { Codes } from '../../../common/src/codes.ts';

export const ClientErrorCode = {
  /** The client was closed with close(); nothing more will be sent. */
  CLOSED: 'CIM_ERR_CLIENT_CLOSED',
  /** The route could not be reached, answered with a non-200 status or with something that is not the JSON envelope. */
  ROUTE_UNAVAILABLE: 'CIM_ERR_CLIENT_ROUTE_UNAVAILABLE',
  /** The route answered with a business error code (see serverCode). */
  ROUTE_REJECTED: 'CIM_ERR_CLIENT_ROUTE_REJECTED',
  /** The chosen cim-server could not be connected to, or dropped the connection during login. */
  CONNECT_FAILED: 'CIM_ERR_CLIENT_CONNECT_FAILED',
  /** The cim-server refused the LOGIN_REQUEST (see serverCode and the message). */
  LOGIN_REJECTED: 'CIM_ERR_CLIENT_LOGIN_REJECTED',
  /** No answer in time (route call, login response, message ack). */
  TIMEOUT: 'CIM_ERR_CLIENT_TIMEOUT',
  /** A private message's receiver is not online (server code 7000; CIM's /p2pRoute, not the in-band path). */
  RECEIVER_OFFLINE: 'CIM_ERR_CLIENT_RECEIVER_OFFLINE',
  /** No account has the receiver's id (server code 7300): sending again cannot succeed. */
  RECEIVER_UNKNOWN: 'CIM_ERR_CLIENT_RECEIVER_UNKNOWN',
  /** The server refused a message with a code that retrying cannot change (see serverCode). */
  SEND_REFUSED: 'CIM_ERR_CLIENT_SEND_REFUSED',
  /** A newer login of the same user replaced this session (close code 4100); the client stopped. */
  REPLACED: 'CIM_ERR_CLIENT_REPLACED',
  /** The server closed the connection with terminal advice (not 4100); serverCode is the close code. */
  DISCONNECTED: 'CIM_ERR_CLIENT_DISCONNECTED',
  /** The server refused a message as invalid (server code 3000), or an argument was invalid. */
  INVALID_ARGUMENT: 'CIM_ERR_CLIENT_INVALID_ARGUMENT',
  /** No online user has this name (sendPrivate by name). */
  USER_NOT_FOUND: 'CIM_ERR_CLIENT_USER_NOT_FOUND',
  /** Too many messages wait for a connection; raise `maxQueuedSends` or wait for the `ready` state. */
  QUEUE_FULL: 'CIM_ERR_CLIENT_QUEUE_FULL',
  /** Reconnecting was given up because `retryStrategy` returned null. */
  RECONNECT_GAVE_UP: 'CIM_ERR_CLIENT_RECONNECT_GAVE_UP',
  /** TLS: the route's or the server's certificate is not trusted (unknown CA, wrong name, expired); pass `ca`. Not retried. */
  TLS_UNTRUSTED: 'CIM_ERR_CLIENT_TLS_UNTRUSTED',
  /** A `message` listener threw; the error is the cause. */
  LISTENER: 'CIM_ERR_CLIENT_LISTENER',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

const RETRYABLE: ReadonlySet<ClientErrorCode> = new Set<ClientErrorCode>([
  ClientErrorCode.ROUTE_UNAVAILABLE,
  ClientErrorCode.CONNECT_FAILED,
  ClientErrorCode.TIMEOUT,
  ClientErrorCode.QUEUE_FULL,
]);

/** Route codes that go away by themselves (duplicate login until the old session expires, no server yet). */
const RETRYABLE_ROUTE_CODES: ReadonlySet<string> = new Set([Codes.REPEAT_LOGIN.code, Codes.SERVER_NOT_AVAILABLE.code]);

export class CimClientError extends Error {
  readonly code: ClientErrorCode;
  readonly serverCode: string | undefined;
  readonly retryable: boolean;

  /** @param options.retryable overrides the default derived from the code (server codes carry their own advice). */
  constructor(code: ClientErrorCode, message: string, options: { serverCode?: string; cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CimClientError';
    this.code = code;
    this.serverCode = options.serverCode;
    this.retryable =
      options.retryable ?? (RETRYABLE.has(code) || (code === ClientErrorCode.ROUTE_REJECTED && RETRYABLE_ROUTE_CODES.has(options.serverCode ?? '')));
  }
}

/** OpenSSL/Node codes of a certificate the client refused (not of a network failure). */
const CERT_CODES = /^(UNABLE_TO_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED|CERT_|ERR_TLS_CERT_ALTNAME|HOSTNAME_MISMATCH|INVALID_CA)/;

/**
 * When `err` (or one of its causes: fetch wraps the socket's error) is a refused certificate, a sentence that
 * says so and what to do; undefined otherwise.
 */
export function certificateProblem(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CERT_CODES.test(code)) {
      return `TLS certificate not trusted (${code}: ${e.message}); give the CA that signed it (SDK option ca, cim chat --ca FILE or CIM_CA)`;
    }
  }
  return undefined;
}

export function isCimClientError(err: unknown, code?: ClientErrorCode): err is CimClientError {
  return err instanceof CimClientError && (code === undefined || err.code === code);
}
