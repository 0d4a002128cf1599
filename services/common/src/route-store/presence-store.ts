/**
 * PresenceStore: who is online, and on which server (the user -> server route). Backends: Redis and
 * memory; one contract suite (test/contracts/presence-store.ts).
 *
 * Guarantee: one route per user, changed atomically. Of concurrent logins of one user exactly one
 * succeeds and the route names the winner; presence expires `ttlMs` after the last login/refresh,
 * so the users of a crashed server go offline on their own; logout with `server` removes only a
 * route that still names that server (a user who logged in elsewhere is left alone).
 */
import type { Account } from './account-store.ts';

export type LoginResult = { ok: true } | { ok: false; currentServer: string };

export interface RefreshResult {
  /** users whose route now names another server: their local session is stale and must be closed */
  readonly movedElsewhere: readonly number[];
}

export interface PresenceStore {
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
}
