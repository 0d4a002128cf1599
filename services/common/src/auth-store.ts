/**
 * AuthStore: the state behind password mode. Backends: Redis (auth-store-redis.ts, shared by routes and
 * servers) and memory (auth-store-memory.ts: unit tests, embedded mode); one contract suite
 * (test/contracts/auth-store.ts). Every record expires on its own (TTL), so nothing here grows without bound.
 *
 * - failure counters (login slow-down): fixed windows starting at the first failure;
 * - revocations: one access token (jti), one login session (sid: its access and refresh tokens), or every
 *   token of a user issued before a time (password change); each kept as long as what it revokes lives;
 * - refresh tokens: stored by hash only, taken (read and deleted atomically) when used, so each is used once.
 */

export interface RefreshRecord {
  readonly userId: number;
  /** the login session the token belongs to */
  readonly sid: string;
  readonly issuedAtMs: number;
}

export interface AuthStore {
  /** Counts one failure under `key`; returns the count in the current window (which starts at the first). */
  countFailure(key: string, windowMs: number): Promise<number>;
  failures(key: string): Promise<number>;
  clearFailures(key: string): Promise<void>;
  revokeToken(jti: string, ttlMs: number): Promise<void>;
  revokeSession(sid: string, ttlMs: number): Promise<void>;
  /** Every token of `userId` issued before `atMs` is revoked. */
  revokeUser(userId: number, atMs: number, ttlMs: number): Promise<void>;
  /** Whether a token (jti, of session sid, of userId, issued at issuedAtMs) was revoked. */
  isRevoked(token: { readonly jti?: string; readonly sid: string; readonly userId: number; readonly issuedAtMs: number }): Promise<boolean>;
  saveRefresh(tokenHash: string, record: RefreshRecord, ttlMs: number): Promise<void>;
  /** The record of `tokenHash`, deleted in the same step: a second take of one token finds nothing. */
  takeRefresh(tokenHash: string): Promise<RefreshRecord | undefined>;
}
