/**
 * The client's session with the route: which protocol it speaks (from the options, or decided by the
 * first /login answer and kept), the grant of the current login, and in password mode this session's
 * tokens, in memory only. Logging in, renewing the tokens before a reconnect and logging out (removing
 * only this client's own route) are the route calls the connection lifecycle makes.
 */
import { Codes } from '../../../common/src/codes.ts';
import { formatServerAddress } from '../../../common/src/server-address.ts';
import { ClientErrorCode, CimClientError } from './errors.ts';
import type { ResolvedOptions } from './options.ts';
import { RouteApi, type HistoryPage, type LoginGrant, type Tokens } from './route-api.ts';
import { CimRoute, type Mode } from './cim-mode.ts';

export class RouteSession {
  readonly #o: ResolvedOptions;
  readonly route: RouteApi;
  /** CIM's route calls (CIM mode: login, offLine, sends, offline fetch). */
  readonly cimRoute: CimRoute;
  #mode: Mode | undefined;
  #grant: LoginGrant | undefined;
  #tokens: Tokens | undefined;

  constructor(options: ResolvedOptions) {
    this.#o = options;
    this.route = new RouteApi({ routeUrl: options.routeUrl, timeoutMs: options.requestTimeoutMs, ...(options.fetch ? { fetch: options.fetch } : {}) });
    this.cimRoute = new CimRoute({ baseUrl: this.route.baseUrl, timeoutMs: options.requestTimeoutMs, fetch: options.fetch });
    this.#mode = options.protocol === 'auto' ? undefined : options.protocol;
  }

  /** 'cim' or 'native' once known (always, unless protocol is 'auto' and no /login answered yet). */
  get mode(): Mode | undefined {
    return this.#mode;
  }

  /** This session's current access token (file transfers send it as a Bearer token). */
  get accessToken(): string | undefined {
    return this.#tokens?.token ?? this.#grant?.token;
  }

  /** The grant of the last login the route accepted. */
  get grant(): LoginGrant | undefined {
    return this.#grant;
  }

  /**
   * /login: with this session's access token when there is one (a reconnect), else with the password (or
   * nothing, in cim mode). A refused token falls back to the password; a password login starts a new session.
   */
  async login(userId: number, signal: AbortSignal): Promise<LoginGrant> {
    const grant = await this.#login(userId, signal);
    this.#grant = grant;
    if (this.#mode === undefined) {
      this.#mode = grant.native ? 'native' : 'cim';
      this.#o.logger.info({ mode: this.#mode }, "protocol chosen from the route's /login answer");
    }
    return grant;
  }

  async #login(userId: number, signal: AbortSignal): Promise<LoginGrant> {
    if (this.#mode === 'cim') return this.cimRoute.login(userId, this.#o.userName, signal);
    if (this.#tokens) {
      try {
        return await this.route.login(userId, this.#o.userName, signal, { token: this.#tokens.token });
      } catch (err) {
        if ((this.#o.password === undefined && this.#o.idToken === undefined) || !isAuthRefusal(err)) throw err;
        this.#tokens = undefined;
      }
    }
    const proof = this.#o.idToken ? { idToken: await this.#o.idToken() } : { password: this.#o.password };
    const grant = await this.route.login(userId, this.#o.userName, signal, proof);
    this.#tokens = grant.token && grant.refreshToken ? { token: grant.token, refreshToken: grant.refreshToken } : undefined;
    return grant;
  }

  /** Rotates the refresh token for a new access token; a refused one ends the session (the password starts a new one). */
  async renewTokens(userId: number | undefined, signal: AbortSignal): Promise<void> {
    const tokens = this.#tokens;
    if (!tokens || userId === undefined) return;
    try {
      this.#tokens = await this.route.refresh(userId, tokens.refreshToken, signal);
    } catch (err) {
      if (isAuthRefusal(err)) this.#tokens = undefined;
      else this.#o.logger.debug({ err }, 'token refresh failed; trying the login anyway');
    }
  }

  /**
   * Removes this client's own route, and only that: without a grant the route never gave this client a
   * server (e.g. 5000, another client of the user is online), so there is nothing of ours to remove and a
   * /offLine without `server` would delete the other client's route. `keepSession` (before a reconnect)
   * keeps the tokens valid.
   */
  /** A page of the server-side history with `peerId`, with this session's token (an expired one is refreshed once). */
  async history(userId: number, peerId: number | { readonly groupId: number }, page: { beforeSeq?: number; limit?: number }, signal?: AbortSignal): Promise<HistoryPage> {
    if (this.#mode === 'cim') throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, "CIM's protocol has no server-side history");
    try {
      return await this.route.history(userId, this.#tokens?.token ?? this.#grant?.token, peerId, page, signal);
    } catch (err) {
      if (!(err instanceof CimClientError) || err.serverCode !== Codes.TOKEN_EXPIRED.code) throw err;
      await this.renewTokens(userId, signal ?? new AbortController().signal);
      return this.route.history(userId, this.#tokens?.token, peerId, page, signal);
    }
  }

  /** A token-checked route call (named groups): with this session's token, refreshed once when expired. */
  async post(path: string, userId: number, payload: Record<string, unknown>, signal?: AbortSignal): Promise<unknown> {
    if (this.#mode === 'cim') throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, `CIM's protocol has no /${path}`);
    try {
      return await this.route.post(path, userId, this.#tokens?.token ?? this.#grant?.token, payload, signal);
    } catch (err) {
      if (!(err instanceof CimClientError) || err.serverCode !== Codes.TOKEN_EXPIRED.code) throw err;
      await this.renewTokens(userId, signal ?? new AbortController().signal);
      return this.route.post(path, userId, this.#tokens?.token, payload, signal);
    }
  }

  offLine(userId: number, signal: AbortSignal | undefined, keepSession = false): Promise<void> {
    const g = this.#grant;
    if (!g) return Promise.resolve();
    if (this.#mode === 'cim') return this.cimRoute.offLine(userId, signal);
    const server = formatServerAddress({ host: g.ip, tcpPort: g.cimServerPort, httpPort: g.httpPort });
    return this.route.offLine(userId, this.#tokens?.token ?? g.token, signal, server, keepSession);
  }
}

/** The route refused the credentials of a token login (bad or expired token): fall back to the password. */
function isAuthRefusal(err: unknown): boolean {
  return err instanceof CimClientError && err.code === ClientErrorCode.ROUTE_REJECTED && (err.serverCode === Codes.UNAUTHORIZED.code || err.serverCode === Codes.TOKEN_EXPIRED.code);
}
