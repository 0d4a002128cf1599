/**
 * Typed calls to the route's HTTP API (reference §3). Every answer is CIM's envelope
 * `{code, message, reqNo, dataBody}` with HTTP 200 also for business errors; anything but code "9000"
 * becomes a CimClientError ROUTE_REJECTED carrying the code. Stateless: one instance per client.
 */
import type { Endpoint } from './endpoint.ts';
import { certificateProblem, ClientErrorCode, CimClientError } from './errors.ts';

export const ROUTE_SUCCESS = '9000';

export interface RegisteredAccount {
  readonly userId: number;
  readonly userName: string;
}

/** The server chosen by the route for a protocol-2 login: the endpoint a transport connects to (endpoint.ts). */
export type ServerAssignment = Endpoint;

export interface LoginGrant extends ServerAssignment {
  /** Route-issued access token (JWT): sent in LOGIN_REQUEST and to every call for this user. Empty in cim mode. */
  readonly token: string;
  /** Password mode, login with a password: the refresh token of the new session ('' otherwise). */
  readonly refreshToken: string;
  /** The answer had protocol-2 fields (wsPath, token): this project's route. CIM's route answers only ip and ports. */
  readonly native: boolean;
}

/** A fresh access token and the refresh token that replaced the one used. */
export interface Tokens {
  readonly token: string;
  readonly refreshToken: string;
}

/** How /login proves who is logging in: nothing (cim mode), the password, or a valid access token. */
export interface LoginProof {
  readonly password?: string | undefined;
  readonly token?: string | undefined;
  /** an OIDC id token (route with --auth-jwks-url) */
  readonly idToken?: string | undefined;
}

export interface OnlineUser {
  readonly userId: number;
  readonly userName: string;
}

/** One message of a conversation kept on the server (POST /history), oldest first within a page. */
export interface HistoryMessage {
  /** the conversation's sequence number: both directions in one order */
  readonly seq: number;
  readonly msgId: string;
  readonly from: OnlineUser;
  readonly to: number;
  readonly text: string;
  readonly sentAt: number;
}

export interface HistoryPage {
  /** false when the cluster keeps no server-side history (--history-max 0) */
  readonly enabled: boolean;
  readonly messages: HistoryMessage[];
}

export interface RouteApiOptions {
  /** Base URL of cim-route, e.g. http://127.0.0.1:8083 (a trailing slash is fine). */
  readonly routeUrl: string;
  /** Bound of one HTTP call, connect to last byte. */
  readonly timeoutMs: number;
  /** Injected for tests; the global fetch otherwise. */
  readonly fetch?: typeof fetch;
}

interface Envelope {
  code: string;
  message: string;
  dataBody: unknown;
}

export class RouteApi {
  readonly #base: string;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: RouteApiOptions) {
    let url: URL;
    try {
      url = new URL(options.routeUrl);
    } catch (err) {
      throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, `routeUrl "${options.routeUrl}" is not a URL`, { cause: err });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, `routeUrl "${options.routeUrl}" must be http:// or https://`);
    }
    this.#base = url.href.replace(/\/+$/, '');
    this.#timeoutMs = options.timeoutMs;
    this.#fetch = options.fetch ?? fetch;
  }

  get baseUrl(): string {
    return this.#base;
  }

  /** Idempotent by name (with the same password in password mode): an existing account's id is returned. */
  async registerAccount(userName: string, signal?: AbortSignal, password?: string, idToken?: string): Promise<RegisteredAccount> {
    const body = await this.#call('POST', 'registerAccount', { userName, ...(password !== undefined ? { password } : idToken !== undefined ? { idToken } : {}) }, signal);
    const data = asObject(body.dataBody, 'registerAccount');
    return { userId: asUserId(data['userId'], 'registerAccount.userId'), userName: asString(data['userName'], 'registerAccount.userName') };
  }

  /** Logs in with protocol 2, which returns the WebSocket path and a token besides CIM's server address. */
  async login(userId: number, userName: string, signal?: AbortSignal, proof: LoginProof = {}): Promise<LoginGrant> {
    const extra = proof.password !== undefined ? { password: proof.password } : proof.idToken !== undefined ? { idToken: proof.idToken } : proof.token ? { token: proof.token } : {};
    const body = await this.#call('POST', 'login', { userId, userName, protocol: 2, ...extra }, signal);
    const data = asObject(body.dataBody, 'login');
    return {
      ip: asString(data['ip'], 'login.ip'),
      cimServerPort: asPort(data['cimServerPort'], 'login.cimServerPort'),
      httpPort: asPort(data['httpPort'], 'login.httpPort'),
      wsPath: typeof data['wsPath'] === 'string' && data['wsPath'] !== '' ? data['wsPath'] : '/ws',
      ...(data['tls'] === true ? { tls: true, tlsTcp: data['tlsTcp'] === true, ...(typeof data['tlsName'] === 'string' && data['tlsName'] !== '' ? { tlsName: data['tlsName'] } : {}) } : {}),
      token: typeof data['token'] === 'string' ? data['token'] : '',
      refreshToken: typeof data['refreshToken'] === 'string' ? data['refreshToken'] : '',
      native: typeof data['wsPath'] === 'string' || typeof data['token'] === 'string',
    };
  }

  /** Password mode: a new access token for the refresh token, which is used up (the answer carries its successor). */
  async refresh(userId: number, refreshToken: string, signal?: AbortSignal): Promise<Tokens> {
    const body = await this.#call('POST', 'refresh', { userId, refreshToken }, signal);
    const data = asObject(body.dataBody, 'refresh');
    return { token: asString(data['token'], 'refresh.token'), refreshToken: asString(data['refreshToken'], 'refresh.refreshToken') };
  }

  /**
   * Clears the user's route and online mark. CIM always answers 9000, also for unknown users. With
   * `server` (`host:tcpPort:httpPort`) the route removes the route only while it still names that server,
   * so a client never deletes the route of another client of the same user. In password mode it also
   * revokes the token and its session, unless `keepSession`.
   */
  async offLine(userId: number, token: string | undefined, signal?: AbortSignal, server?: string, keepSession = false): Promise<void> {
    const payload: Record<string, unknown> = { userId, msg: 'offLine' };
    // keepSession: only the route is cleared (before a reconnect); without it a logout, which revokes the token.
    if (keepSession) payload['keepSession'] = true;
    if (token) payload['token'] = token;
    if (server) payload['server'] = server;
    await this.#call('POST', 'offLine', payload, signal);
  }

  /** A page of the conversation with `peerId`: the newest `limit` before `beforeSeq` (all when absent), oldest first. */
  async history(userId: number, token: string | undefined, peer: number | { readonly groupId: number }, page: { beforeSeq?: number; limit?: number } = {}, signal?: AbortSignal): Promise<HistoryPage> {
    // A peer's private conversation, or a named group's (members only; `to` is then the groupId).
    const payload: Record<string, unknown> = typeof peer === 'number' ? { userId, peerId: peer } : { userId, groupId: peer.groupId };
    if (token) payload['token'] = token;
    if (page.beforeSeq !== undefined) payload['beforeSeq'] = page.beforeSeq;
    if (page.limit !== undefined) payload['limit'] = page.limit;
    const body = await this.#call('POST', 'history', payload, signal);
    const data = asObject(body.dataBody, 'history');
    if (!Array.isArray(data['messages'])) throw malformed('history', 'messages is not an array');
    const messages = data['messages'].map((entry: unknown, i): HistoryMessage => {
      const m = asObject(entry, `history[${i}]`);
      const from = asObject(m['from'], `history[${i}].from`);
      const seq = asUserId(m['seq'], `history[${i}].seq`);
      const sentAt = m['sentAt'];
      if (typeof sentAt !== 'number' || !Number.isSafeInteger(sentAt)) throw malformed('history', `history[${i}].sentAt is not a time`);
      return {
        seq,
        msgId: asString(m['msgId'], `history[${i}].msgId`),
        from: { userId: asUserId(from['userId'], `history[${i}].from.userId`), userName: asString(from['userName'], `history[${i}].from.userName`) },
        to: asUserId(m['to'], `history[${i}].to`),
        text: asString(m['text'], `history[${i}].text`),
        sentAt,
      };
    });
    return { enabled: data['enabled'] === true, messages };
  }

  /** A POST acting for `userId` with its token (the named-group calls, groups.ts): the answer's dataBody. */
  async post(path: string, userId: number, token: string | undefined, payload: Record<string, unknown>, signal?: AbortSignal): Promise<unknown> {
    return (await this.#call('POST', path, { ...payload, userId, ...(token ? { token } : {}) }, signal)).dataBody;
  }

  /** Everyone online; CIM's `dataBody: null` for nobody becomes []. */
  async onlineUsers(signal?: AbortSignal): Promise<OnlineUser[]> {
    const body = await this.#call('GET', 'onlineUser', undefined, signal);
    if (body.dataBody === null || body.dataBody === undefined) return [];
    if (!Array.isArray(body.dataBody)) throw malformed('onlineUser', 'dataBody is not an array');
    return body.dataBody.map((entry: unknown, i) => {
      const user = asObject(entry, `onlineUser[${i}]`);
      return { userId: asUserId(user['userId'], `onlineUser[${i}].userId`), userName: asString(user['userName'], `onlineUser[${i}].userName`) };
    });
  }

  async #call(method: 'GET' | 'POST', path: string, payload: unknown, signal?: AbortSignal): Promise<Envelope> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const url = `${this.#base}/${path}`;
    let response: Response;
    let text: string;
    try {
      response = await this.#fetch(url, {
        method,
        headers: payload === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json', accept: 'application/json' },
        body: payload === undefined ? null : JSON.stringify(payload),
        signal: combined,
      });
      text = await response.text();
    } catch (err) {
      if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new CimClientError(ClientErrorCode.CLOSED, 'the client was closed');
      if (timeout.aborted) {
        throw new CimClientError(ClientErrorCode.TIMEOUT, `route ${method} ${url} did not answer within ${this.#timeoutMs} ms`, { cause: err });
      }
      const tls = certificateProblem(err);
      if (tls) throw new CimClientError(ClientErrorCode.TLS_UNTRUSTED, `route ${method} ${url}: ${tls}`, { cause: err });
      throw new CimClientError(ClientErrorCode.ROUTE_UNAVAILABLE, `route ${method} ${url} failed: ${(err as Error).message}`, { cause: err });
    }
    if (response.status !== 200) {
      throw new CimClientError(ClientErrorCode.ROUTE_UNAVAILABLE, `route ${method} ${url} answered HTTP ${response.status}: ${text.slice(0, 200)}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new CimClientError(ClientErrorCode.ROUTE_UNAVAILABLE, `route ${method} ${url} answered with invalid JSON`, { cause: err });
    }
    const envelope = asObject(parsed, path);
    const code = envelope['code'];
    if (typeof code !== 'string' && typeof code !== 'number') throw malformed(path, 'the envelope has no code');
    const result: Envelope = { code: String(code), message: typeof envelope['message'] === 'string' ? envelope['message'] : '', dataBody: envelope['dataBody'] };
    if (result.code !== ROUTE_SUCCESS) {
      throw new CimClientError(ClientErrorCode.ROUTE_REJECTED, `route /${path} refused (${result.code}): ${result.message}`, { serverCode: result.code });
    }
    return result;
  }
}

function malformed(where: string, what: string): CimClientError {
  return new CimClientError(ClientErrorCode.ROUTE_UNAVAILABLE, `route answer of ${where} is malformed: ${what}`);
}

function asObject(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed(where, 'expected an object');
  return value as Record<string, unknown>;
}

function asString(value: unknown, where: string): string {
  if (typeof value !== 'string') throw malformed(where, 'expected a string');
  return value;
}

/** userIds are CIM's millisecond timestamps: JSON numbers, sometimes strings; both must be safe integers. */
function asUserId(value: unknown, where: string): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0) throw malformed(where, 'expected a positive integer user id');
  return n;
}

function asPort(value: unknown, where: string): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) throw malformed(where, 'expected a port number');
  return n;
}
