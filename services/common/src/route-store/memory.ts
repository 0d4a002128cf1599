import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import type { Account, LoginResult, RefreshResult, RouteStore } from './types.ts';

interface RouteEntry {
  server: string;
  expiresAt: number;
}

/**
 * In-memory accounts and presence (RouteStore) for unit tests and the embedded single-process mode. Every method is atomic
 * because it runs to completion on the event loop. Share one instance between components.
 */
export class MemoryRouteStore implements RouteStore {
  readonly #clock: Clock;
  readonly #names = new Map<string, number>();
  readonly #accounts = new Map<number, string>();
  readonly #credentials = new Map<number, string>();
  readonly #routes = new Map<number, RouteEntry>();
  #lastId = 0;
  #closed = false;

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  async registerAccount(userName: string): Promise<Account> {
    const existing = this.#names.get(userName);
    if (existing !== undefined) return { userId: existing, userName };
    const userId = Math.max(this.#clock.now(), this.#lastId + 1);
    this.#lastId = userId;
    this.#names.set(userName, userId);
    this.#accounts.set(userId, userName);
    return { userId, userName };
  }

  async registerWithCredential(userName: string, credential: string): Promise<{ account: Account; credential: string | undefined; created: boolean }> {
    const existing = this.#names.get(userName);
    if (existing !== undefined) return { account: { userId: existing, userName }, credential: this.#credentials.get(existing), created: false };
    // No await between the check and the writes: the event loop keeps this atomic.
    const userId = Math.max(this.#clock.now(), this.#lastId + 1);
    this.#lastId = userId;
    this.#names.set(userName, userId);
    this.#accounts.set(userId, userName);
    this.#credentials.set(userId, credential);
    const account = { userId, userName };
    return { account, credential, created: true };
  }

  async getCredential(userId: number): Promise<string | undefined> {
    return this.#credentials.get(userId);
  }

  async setCredential(userId: number, credential: string): Promise<boolean> {
    if (!this.#accounts.has(userId)) return false;
    this.#credentials.set(userId, credential);
    return true;
  }

  async getAccount(userId: number): Promise<Account | undefined> {
    const userName = this.#accounts.get(userId);
    return userName === undefined ? undefined : { userId, userName };
  }

  async getAccounts(userIds: readonly number[]): Promise<Account[]> {
    const out: Account[] = [];
    for (const userId of userIds) {
      const userName = this.#accounts.get(userId);
      if (userName !== undefined) out.push({ userId, userName });
    }
    return out;
  }

  #live(userId: number): RouteEntry | undefined {
    const entry = this.#routes.get(userId);
    if (entry && entry.expiresAt <= this.#clock.now()) {
      this.#routes.delete(userId);
      return undefined;
    }
    return entry;
  }

  async login(userId: number, server: string, ttlMs: number, takeOverFrom?: string): Promise<LoginResult> {
    const current = this.#live(userId);
    if (current && current.server !== takeOverFrom) return { ok: false, currentServer: current.server };
    this.#routes.set(userId, { server, expiresAt: this.#clock.now() + ttlMs });
    return { ok: true };
  }

  async logout(userId: number, server?: string): Promise<boolean> {
    const current = this.#live(userId);
    if (!current || (server !== undefined && current.server !== server)) return false;
    this.#routes.delete(userId);
    return true;
  }

  async getRoute(userId: number): Promise<string | undefined> {
    return this.#live(userId)?.server;
  }

  async refreshPresence(server: string, userIds: readonly number[], ttlMs: number): Promise<RefreshResult> {
    const movedElsewhere: number[] = [];
    const expiresAt = this.#clock.now() + ttlMs;
    for (const userId of userIds) {
      const current = this.#live(userId);
      if (current && current.server !== server) movedElsewhere.push(userId);
      else this.#routes.set(userId, { server, expiresAt });
    }
    return { movedElsewhere };
  }

  async onlineUsers(): Promise<Account[]> {
    const ids = [...this.#routes.keys()].filter((id) => this.#live(id) !== undefined);
    return this.getAccounts(ids);
  }

  isReady(): boolean {
    return !this.#closed;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
