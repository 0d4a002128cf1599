/**
 * The route's side of authentication. Two modes:
 *  - 'cim': CIM's open behaviour (no password, no token) for CIM's own clients;
 *  - 'password': accounts have a password (scrypt hash), /login checks it and issues a short-lived JWT
 *    (auth.ts) plus a refresh token (opaque, stored hashed, rotated on use); endpoints that act for a user
 *    need that user's unrevoked token. Failed password checks are counted per account and per address:
 *    beyond the limit the account (or address) is refused with LOGIN_THROTTLED until the window ends.
 */
import { createHash } from 'node:crypto';
import { hashPassword, verifyPassword } from '../../common/src/auth-password.ts';
import type { AuthStore } from '../../common/src/auth-store.ts';
import { issueToken, randomId, verifyToken, type TokenClaims } from '../../common/src/auth.ts';
import type { Clock } from '../../common/src/clock.ts';
import { Codes, type WireCode } from '../../common/src/codes.ts';
import type { Account, AccountStore } from '../../common/src/route-store/account-store.ts';

export type AuthMode = 'cim' | 'password';
export const AUTH_MODES: readonly AuthMode[] = ['cim', 'password'];

export interface RouteAuthOptions {
  readonly mode: AuthMode;
  readonly secret: string | undefined;
  readonly store: AuthStore;
  readonly accounts: AccountStore;
  readonly clock: Clock;
  readonly tokenTtlMs: number;
  readonly refreshTtlMs: number;
  /** failed password checks per account within the window before it is throttled */
  readonly maxFailures: number;
  /** … and per client address */
  readonly maxFailuresPerAddress: number;
  readonly failureWindowMs: number;
}

export interface Grant {
  readonly token: string;
  readonly refreshToken: string;
  /** seconds the access token is valid */
  readonly expiresIn: number;
}

export type Authorized = { ok: true; claims: TokenClaims } | { ok: false; code: WireCode };

const hashRefresh = (token: string) => createHash('sha256').update(token).digest('base64url');
const REFRESH_TOKEN = /^[\w-]{20,200}$/;

export class RouteAuth {
  readonly #o: RouteAuthOptions;

  constructor(options: RouteAuthOptions) {
    if (options.mode === 'password' && !options.secret) throw new Error('--auth password needs --auth-secret (the secret shared with the servers)');
    this.#o = options;
  }

  get mode(): AuthMode {
    return this.#o.mode;
  }

  /** Password mode registration: a new name gets an account; an existing one only with its own password. */
  async register(userName: string, password: string, address: string): Promise<{ ok: true; account: Account } | { ok: false; code: WireCode }> {
    const hash = await hashPassword(password);
    const result = await this.#o.accounts.registerWithCredential(userName, hash);
    if (result.created) return { ok: true, account: result.account };
    // Re-registering tells whether a password is right: it is throttled and counted like a login.
    const refused = await this.checkPassword(result.account.userId, password, address, result.credential);
    return refused ? { ok: false, code: refused === Codes.BAD_CREDENTIALS ? Codes.NAME_TAKEN : refused } : { ok: true, account: result.account };
  }

  /** undefined when `password` is the account's; else BAD_CREDENTIALS or LOGIN_THROTTLED. */
  async checkPassword(userId: number, password: string | undefined, address: string, stored?: string): Promise<WireCode | undefined> {
    const { store, maxFailures, maxFailuresPerAddress, failureWindowMs } = this.#o;
    const acct = `acct:${userId}`;
    const addr = `addr:${address}`;
    const [byAccount, byAddress] = await Promise.all([store.failures(acct), store.failures(addr)]);
    if (byAccount >= maxFailures || byAddress >= maxFailuresPerAddress) return Codes.LOGIN_THROTTLED;
    const credential = stored ?? (await this.#o.accounts.getCredential(userId));
    // Accounts without a password (made in cim mode) cannot log in here: claiming them would be a take-over.
    const ok = credential !== undefined && password !== undefined && (await verifyPassword(credential, password));
    if (ok) {
      await store.clearFailures(acct);
      return undefined;
    }
    await Promise.all([store.countFailure(acct, failureWindowMs), store.countFailure(addr, failureWindowMs)]);
    return Codes.BAD_CREDENTIALS;
  }

  /** A new login session: access token + refresh token. */
  async issue(userId: number, sid = randomId()): Promise<Grant> {
    const now = this.#o.clock.now();
    const { token } = await issueToken(this.#o.secret!, userId, sid, now, this.#o.tokenTtlMs);
    const refreshToken = randomId(32);
    await this.#o.store.saveRefresh(hashRefresh(refreshToken), { userId, sid, issuedAtMs: now }, this.#o.refreshTtlMs);
    return { token, refreshToken, expiresIn: Math.floor(this.#o.tokenTtlMs / 1000) };
  }

  /** Rotation: the refresh token is used up; a new pair of the same session is returned. */
  async refresh(userId: number, refreshToken: string): Promise<{ ok: true; grant: Grant } | { ok: false; code: WireCode }> {
    if (!REFRESH_TOKEN.test(refreshToken)) return { ok: false, code: Codes.UNAUTHORIZED };
    const record = await this.#o.store.takeRefresh(hashRefresh(refreshToken));
    if (!record || record.userId !== userId) return { ok: false, code: Codes.UNAUTHORIZED };
    if (await this.#o.store.isRevoked({ sid: record.sid, userId, issuedAtMs: record.issuedAtMs })) return { ok: false, code: Codes.UNAUTHORIZED };
    return { ok: true, grant: await this.issue(userId, record.sid) };
  }

  /** The token of `userId`, valid and not revoked. */
  async authorize(userId: number, token: string | undefined): Promise<Authorized> {
    const check = await verifyToken(this.#o.secret!, token, userId, this.#o.clock.now());
    if (!check.ok) return { ok: false, code: check.reason === 'expired' ? Codes.TOKEN_EXPIRED : Codes.UNAUTHORIZED };
    if (await this.#o.store.isRevoked(check.claims)) return { ok: false, code: Codes.UNAUTHORIZED };
    return { ok: true, claims: check.claims };
  }

  /** Logout: this access token and its whole login session (its refresh tokens) stop working. */
  async revoke(claims: TokenClaims): Promise<void> {
    const left = Math.max(1000, claims.expiresAtMs - this.#o.clock.now());
    await Promise.all([this.#o.store.revokeToken(claims.jti, left), this.#o.store.revokeSession(claims.sid, Math.max(left, this.#o.refreshTtlMs))]);
  }

  /** Password change: every token and refresh token of the user issued before now is revoked. */
  async changePassword(userId: number, password: string, newPassword: string, address: string): Promise<WireCode | undefined> {
    const refused = await this.checkPassword(userId, password, address);
    if (refused) return refused;
    await this.#o.accounts.setCredential(userId, await hashPassword(newPassword));
    await this.#o.store.revokeUser(userId, this.#o.clock.now(), Math.max(this.#o.tokenTtlMs, this.#o.refreshTtlMs));
    return undefined;
  }
}
