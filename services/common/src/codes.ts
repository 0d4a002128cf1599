/**
 * The one catalogue of codes on the wire: status codes in route envelopes, MESSAGE_ACK and LOGIN_RESPONSE
 * (CIM's StatusEnum plus this project's), and connection close codes with reconnect advice. Every code
 * says whether trying again can succeed. docs/codes.md is kept equal to this file by a test.
 */
import { Status, type StatusEntry } from './status.ts';

export interface WireCode {
  readonly code: string;
  readonly message: string;
  /** true when the same request may succeed later (the SDK retries it with the same msgId) */
  readonly retryable: boolean;
}

/** Status codes. CIM's first (same strings, same messages), then this project's. */
export const Codes = {
  SUCCESS: { ...Status.SUCCESS, retryable: false },
  VALIDATION_FAIL: { ...Status.VALIDATION_FAIL, retryable: false },
  FAIL: { ...Status.FAIL, retryable: true },
  REPEAT_LOGIN: { ...Status.REPEAT_LOGIN, retryable: true },
  OFF_LINE: { ...Status.OFF_LINE, retryable: false },
  SERVER_NOT_AVAILABLE: { ...Status.SERVER_NOT_AVAILABLE, retryable: true },
  ACCOUNT_NOT_MATCH: { ...Status.ACCOUNT_NOT_MATCH, retryable: false },
  OFFLINE_MESSAGE_STORAGE_ERROR: { ...Status.OFFLINE_MESSAGE_STORAGE_ERROR, retryable: true },
  OFFLINE_MESSAGE_FETCH_ERROR: { ...Status.OFFLINE_MESSAGE_FETCH_ERROR, retryable: true },
  UNAUTHORIZED: { ...Status.UNAUTHORIZED, retryable: false },
  /** The message store (Redis) is unavailable: nothing was stored; send again with the same msgId. */
  STORE_UNAVAILABLE: { code: '7200', message: 'Message store unavailable, please retry', retryable: true },
  /** No account has this receiver id. */
  RECEIVER_UNKNOWN: { code: '7300', message: 'No such user', retryable: false },
  /** The server is draining or not ready for this request: log in again through the route. */
  SERVER_DRAINING: { code: '7110', message: 'Server is shutting down, please reconnect', retryable: true },
  /** Too many messages on this connection, or too many registrations/logins from this address (HTTP 429): slow down, then retry. */
  RATE_LIMITED: { code: '7400', message: 'Too many requests, please slow down and retry', retryable: true },
  /** Password mode: wrong user name, user id or password (the same answer for each, so names cannot be probed). */
  BAD_CREDENTIALS: { code: '9301', message: 'Wrong user name or password', retryable: false },
  /** Password mode: too many failed logins for this account or from this address; wait for the window to pass. */
  LOGIN_THROTTLED: { code: '9302', message: 'Too many failed logins, please try again later', retryable: true },
  /** The access token expired: get a new one with /refresh (or log in again), then repeat the call. */
  TOKEN_EXPIRED: { code: '9303', message: 'Token expired, please refresh it', retryable: true },
  /** /registerAccount: the name belongs to an account with another password. */
  NAME_TAKEN: { code: '9304', message: 'User name is already taken', retryable: false },
  /** The external identity provider (--auth-hook-url, --auth-jwks-url) did not answer in time or failed: try again later. */
  IDP_UNAVAILABLE: { code: '9305', message: 'Identity provider unavailable, please retry', retryable: true },
  /** The sender already holds --inbox-max-per-sender pending messages in this receiver's inbox: nothing was stored. */
  INBOX_SENDER_LIMIT: { code: '7310', message: 'Too many pending messages to this user, wait until they are read', retryable: false },
  /** Named groups: the caller is not a member of the group (sending, reading its members or history, admin acts), or the target user is not. */
  GROUP_NOT_MEMBER: { code: '7320', message: 'Not a member of this group', retryable: false },
  /** Named groups: no group has this id. */
  GROUP_UNKNOWN: { code: '7330', message: 'No such group', retryable: false },
  /** Named groups: the caller's role does not allow it (admins invite, remove, rename; the owner sets roles), the group is closed (invitation only), or the act targets the owner. */
  GROUP_FORBIDDEN: { code: '7340', message: 'Not allowed in this group', retryable: false },
  /** Named groups: the group has --group-max-members members. */
  GROUP_FULL: { code: '7350', message: 'Group is full', retryable: false },
  /** Files: the upload is larger than --max-file-bytes (HTTP 413); nothing was stored. */
  FILE_TOO_LARGE: { code: '7500', message: 'File too large', retryable: false },
  /** Files: the type is not in --file-types, or the name is an executable or script (HTTP 415). */
  FILE_TYPE_REFUSED: { code: '7510', message: 'File type not accepted', retryable: false },
  /** Files: the download token is missing, invalid, expired or not for this file (HTTP 403). */
  FILE_FORBIDDEN: { code: '7520', message: 'Not allowed to download this file', retryable: false },
  /** Files: no stored file has this id (HTTP 404). */
  FILE_UNKNOWN: { code: '7530', message: 'No such file', retryable: false },
  /** Files: the object store failed or cannot be reached (HTTP 503); upload or download again. */
  FILE_STORE_UNAVAILABLE: { code: '7540', message: 'File store unavailable, please retry', retryable: true },
  /** The receiver accepts private messages from its contacts only (/contacts/settings onlyContacts), and the sender is not one. */
  CONTACTS_ONLY: { code: '7360', message: 'This user accepts messages from contacts only', retryable: false },
  /** --login-policy multi: the user already has --max-devices devices online; log out on one of them first. */
  DEVICE_LIMIT: { code: '7370', message: 'Too many devices online for this user', retryable: false },
} as const satisfies Record<string, WireCode>;
export type CodeName = keyof typeof Codes;

const BY_CODE: ReadonlyMap<string, WireCode> = new Map(Object.values(Codes).map((c) => [c.code, c]));

/** The catalogue entry of a code string; unknown codes are treated as not retryable. */
export function wireCode(code: string): WireCode | undefined {
  return BY_CODE.get(code);
}

export function isRetryableCode(code: string): boolean {
  return BY_CODE.get(code)?.retryable ?? false;
}

export type { StatusEntry };

/** Why a server closes a connection; each has one close code and one piece of reconnect advice. */
export interface CloseCode {
  readonly code: number;
  readonly reason: string;
  /** true: reconnect (with backoff, through the route); false: terminal, do not come back */
  readonly reconnect: boolean;
}

/**
 * WebSocket close codes (TCP protocol-2 clients get the same number in GOAWAY's `code`).
 * 4000–4099 reconnect, 4100–4199 terminal; 1xxx are the standard ones.
 */
export const CloseCodes = {
  'client-closed': { code: 1000, reason: 'client closed', reconnect: false },
  shutdown: { code: 1001, reason: 'server shutting down', reconnect: true },
  'bad-frame': { code: 1003, reason: 'bad frame', reconnect: false },
  'oversize-frame': { code: 1009, reason: 'frame too large', reconnect: false },
  'heartbeat-timeout': { code: 4000, reason: 'heartbeat timeout', reconnect: true },
  'login-timeout': { code: 4001, reason: 'login timeout', reconnect: true },
  'login-retry': { code: 4003, reason: 'login refused for now', reconnect: true },
  'slow-consumer': { code: 4008, reason: 'slow consumer', reconnect: true },
  'moved-elsewhere': { code: 4010, reason: 'moved to another server', reconnect: true },
  'rate-limited': { code: 4029, reason: 'rate limited', reconnect: true },
  replaced: { code: 4100, reason: 'replaced by a newer login of the same user', reconnect: false },
  'login-refused': { code: 4101, reason: 'login refused', reconnect: false },
} as const satisfies Record<string, CloseCode>;
export type CloseReason = keyof typeof CloseCodes;

const CLOSE_BY_CODE: ReadonlyMap<number, CloseCode> = new Map(Object.values(CloseCodes).map((c) => [c.code, c]));

/**
 * Whether a client should reconnect after the server closed with `code`. Unknown 4000–4099 and
 * abnormal closes (1005/1006, a dropped socket) reconnect; unknown 4100–4199 do not.
 */
export function shouldReconnect(code: number): boolean {
  const known = CLOSE_BY_CODE.get(code);
  if (known) return known.reconnect;
  if (code >= 4100 && code <= 4199) return false;
  return true;
}

export function closeCode(code: number): CloseCode | undefined {
  return CLOSE_BY_CODE.get(code);
}
