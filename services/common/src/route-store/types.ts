/**
 * RouteStore: accounts, presence (who is online) and user -> server routes, plus offline messages.
 * Two backends: Redis (production, shared by every route and server) and memory (tests, embedded mode).
 *
 * Guarantees, for both backends:
 * - registerAccount is idempotent by name and race-free: concurrent calls for one name return one id;
 *   ids are unique.
 * - login is atomic: of concurrent logins of one user exactly one succeeds. A user is online only
 *   once a server has been chosen, and a route always names that chosen server.
 * - presence expires `ttlMs` after the last login/refresh, so users of a crashed server go offline
 *   on their own; the server holding a user refreshes it with its heartbeats.
 * - logout with `server` only removes a route that still names that server (a user who already
 *   logged in elsewhere is left alone).
 */

export interface Account {
  readonly userId: number;
  readonly userName: string;
}

export interface OfflineMessage {
  readonly msg: string;
  readonly properties: Readonly<Record<string, string>>;
  /** ms since epoch */
  readonly createdAt: number;
}

export type LoginResult = { ok: true } | { ok: false; currentServer: string };

export interface RefreshResult {
  /** users whose route now names another server: their local session is stale and must be closed */
  readonly movedElsewhere: readonly number[];
}

export interface RouteStore {
  registerAccount(userName: string): Promise<Account>;
  getAccount(userId: number): Promise<Account | undefined>;
  getAccounts(userIds: readonly number[]): Promise<Account[]>;

  /**
   * Marks `userId` online on `server`. Fails when the user is already online, unless the current
   * route names `takeOverFrom` (a server known to be dead), which is replaced atomically.
   */
  login(userId: number, server: string, ttlMs: number, takeOverFrom?: string): Promise<LoginResult>;
  /** Marks the user offline. With `server`, only if the route still names that server. Returns whether it did. */
  logout(userId: number, server?: string): Promise<boolean>;
  getRoute(userId: number): Promise<string | undefined>;
  /** Extends the presence of users held by `server`; re-creates expired ones. */
  refreshPresence(server: string, userIds: readonly number[], ttlMs: number): Promise<RefreshResult>;
  /** Online users (presence not expired), with their names. */
  onlineUsers(): Promise<Account[]>;

  /** Appends an offline message for `userId`; keeps at most `maxPerUser`, the newest. */
  saveOffline(userId: number, message: OfflineMessage, ttlMs: number, maxPerUser: number): Promise<void>;
  /** Removes and returns up to `limit` of the oldest offline messages of `userId`. */
  takeOffline(userId: number, limit: number): Promise<OfflineMessage[]>;
  /** Puts messages taken with takeOffline back at the front, when they could not be delivered. */
  restoreOffline(userId: number, messages: readonly OfflineMessage[], ttlMs: number): Promise<void>;

  /** true when the backend is connected and usable (for /readyz). */
  isReady(): boolean;
  close(): Promise<void>;
}
