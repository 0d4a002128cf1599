/**
 * The route's side of authentication. Two modes:
 *  - 'cim': CIM's open behaviour (no password, no token) for CIM's own clients;
 *  - 'password': accounts have a password (scrypt hash), /login checks it and issues a short-lived JWT
 *    (auth.ts) plus a refresh token (opaque, stored hashed, rotated on use); endpoints that act for a user
 *    need that user's unrevoked token. Failed password checks are counted per account and per address:
 *    beyond the limit the account (or address) is refused with LOGIN_THROTTLED until the window ends.
 *    External identity (optional, auth-external.ts) adds to it: an OIDC id token instead of a password
 *    (--auth-jwks-url), and password checks by an HTTP hook (--auth-hook-url) for the accounts it made.
 *    Each account has one authority, fixed when it is made and kept as its credential: a scrypt hash
 *    (local password), HOOK_CREDENTIAL (the hook) or `oidc:<issuer>` (id tokens of that issuer only), so
 *    no way of logging in can claim an account made by another (docs/decisions.md).
 */
import { createHash } from 'node:crypto';
import type { IdTokenVerifier, IdentityCheck, PasswordChecker } from '../../common/src/auth-external.ts';
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
  /** --auth-jwks-url: logins and registrations with an id token */
  readonly oidc?: { readonly verifier: IdTokenVerifier; readonly issuer: string } | undefined;
  /** --auth-hook-url: new accounts' passwords (and those of the accounts it made) are checked by the hook */
  readonly hook?: PasswordChecker | undefined;
}

/** The credential of an account whose password the hook checks. */
export const HOOK_CREDENTIAL = 'external:hook';
const oidcCredential = (issuer: string) => `external:oidc:${issuer}`;

/** A refusal of an external check: the user's fault (`refused`), or the provider's (9305, retryable). */
const externalRefusal = (check: Extract<IdentityCheck, { ok: false }>, refused: WireCode): WireCode => (check.reason === 'unavailable' ? Codes.IDP_UNAVAILABLE : refused);

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

  /** Whether id tokens are accepted (--auth-jwks-url). */
  get acceptsIdTokens(): boolean {
    return this.#o.oidc !== undefined;
  }

  /** Password mode registration: a new name gets an account; an existing one only with its own password. */
  async register(userName: string, password: string, address: string): Promise<{ ok: true; account: Account } | { ok: false; code: WireCode }> {
    if (this.#o.hook) return this.#registerByHook(userName, password, address);
    const hash = await hashPassword(password);
    const result = await this.#o.accounts.registerWithCredential(userName, hash);
    if (result.created) return { ok: true, account: result.account };
    // Re-registering tells whether a password is right: it is throttled and counted like a login.
    const refused = await this.checkPassword(result.account.userId, password, address, result.credential);
    return refused ? { ok: false, code: refused === Codes.BAD_CREDENTIALS ? Codes.NAME_TAKEN : refused } : { ok: true, account: result.account };
  }

  /** Hook mode: the hook decides; a new name becomes an account the hook owns. */
  async #registerByHook(userName: string, password: string, address: string): Promise<{ ok: true; account: Account } | { ok: false; code: WireCode }> {
    const throttled = await this.#throttled(undefined, address);
    if (throttled) return { ok: false, code: throttled };
    const checked = await this.#o.hook!.check(userName, password);
    if (!checked.ok) {
      if (checked.reason === 'refused') await this.#countFailure(undefined, address);
      return { ok: false, code: externalRefusal(checked, Codes.BAD_CREDENTIALS) };
    }
    const result = await this.#o.accounts.registerWithCredential(checked.userName, HOOK_CREDENTIAL);
    if (result.created || result.credential === HOOK_CREDENTIAL) return { ok: true, account: result.account };
    // A name made before the hook (or by id tokens) keeps its own authority: no take-over through the hook.
    if (result.credential === undefined || !result.credential.startsWith('scrypt$')) return { ok: false, code: Codes.NAME_TAKEN };
    const refused = await this.checkPassword(result.account.userId, password, address, result.credential);
    return refused ? { ok: false, code: refused === Codes.BAD_CREDENTIALS ? Codes.NAME_TAKEN : refused } : { ok: true, account: result.account };
  }

  /**
   * An id token's account: verified (9300 when not valid, 9305 when the provider cannot be reached), then
   * provisioned on first use with no password; a name owned by another authority is refused (9301).
   */
  async externalAccount(idToken: string, address: string): Promise<{ ok: true; account: Account } | { ok: false; code: WireCode }> {
    const oidc = this.#o.oidc;
    if (!oidc) return { ok: false, code: Codes.VALIDATION_FAIL };
    const throttled = await this.#throttled(undefined, address);
    if (throttled) return { ok: false, code: throttled };
    const checked = await oidc.verifier.verify(idToken);
    if (!checked.ok) {
      if (checked.reason === 'refused') await this.#countFailure(undefined, address);
      return { ok: false, code: externalRefusal(checked, Codes.UNAUTHORIZED) };
    }
    const credential = oidcCredential(oidc.issuer);
    const result = await this.#o.accounts.registerWithCredential(checked.userName, credential);
    if (!result.created && result.credential !== credential) {
      await this.#countFailure(result.account.userId, address);
      return { ok: false, code: Codes.BAD_CREDENTIALS };
    }
    return { ok: true, account: result.account };
  }

  async #throttled(userId: number | undefined, address: string): Promise<WireCode | undefined> {
    const { store, maxFailures, maxFailuresPerAddress } = this.#o;
    const [byAccount, byAddress] = await Promise.all([userId === undefined ? 0 : store.failures(`acct:${userId}`), store.failures(`addr:${address}`)]);
    return byAccount >= maxFailures || byAddress >= maxFailuresPerAddress ? Codes.LOGIN_THROTTLED : undefined;
  }

  async #countFailure(userId: number | undefined, address: string): Promise<void> {
    const { store, failureWindowMs } = this.#o;
    await Promise.all([userId === undefined ? undefined : store.countFailure(`acct:${userId}`, failureWindowMs), store.countFailure(`addr:${address}`, failureWindowMs)]);
  }

  /**
   * undefined when `password` is the account's (by its hash, or by the hook for the accounts the hook made);
   * else BAD_CREDENTIALS, LOGIN_THROTTLED or IDP_UNAVAILABLE (the hook did not answer: not counted as a failure).
   */
  async checkPassword(userId: number, password: string | undefined, address: string, stored?: string): Promise<WireCode | undefined> {
    const throttled = await this.#throttled(userId, address);
    if (throttled) return throttled;
    const credential = stored ?? (await this.#o.accounts.getCredential(userId));
    let ok: boolean;
    if (credential === HOOK_CREDENTIAL && this.#o.hook && password !== undefined) {
      const account = await this.#o.accounts.getAccount(userId);
      const checked = account ? await this.#o.hook.check(account.userName, password) : undefined;
      if (checked && !checked.ok && checked.reason === 'unavailable') return Codes.IDP_UNAVAILABLE;
      // The hook may name the user differently: then it vouched for someone else.
      ok = checked?.ok === true && checked.userName === account?.userName;
    } else {
      // Accounts without a password (made in cim mode) cannot log in here: claiming them would be a take-over;
      // nor can external ones (their credential is no hash): they log in through their provider.
      ok = credential !== undefined && password !== undefined && (await verifyPassword(credential, password));
    }
    if (ok) {
      await this.#o.store.clearFailures(`acct:${userId}`);
      return undefined;
    }
    await this.#countFailure(userId, address);
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
    // External accounts' passwords live with their provider: a local one would take the account away from it.
    if ((await this.#o.accounts.getCredential(userId))?.startsWith('external:')) return Codes.VALIDATION_FAIL;
    const refused = await this.checkPassword(userId, password, address);
    if (refused) return refused;
    await this.#o.accounts.setCredential(userId, await hashPassword(newPassword));
    await this.#o.store.revokeUser(userId, this.#o.clock.now(), Math.max(this.#o.tokenTtlMs, this.#o.refreshTtlMs));
    return undefined;
  }
}
