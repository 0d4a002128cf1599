/** In-memory AuthStore (unit tests, embedded mode). Atomic: every method runs to completion on the event loop. */
import type { AuthStore, RefreshRecord } from './auth-store.ts';
import { systemClock, type Clock } from './clock.ts';

interface Expiring<T> {
  value: T;
  expiresAt: number;
}

export class MemoryAuthStore implements AuthStore {
  readonly #clock: Clock;
  readonly #entries = new Map<string, Expiring<unknown>>();

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  #get<T>(key: string): T | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= this.#clock.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.value as T;
  }

  #set(key: string, value: unknown, ttlMs: number): void {
    // Expired entries are dropped when read; sweep now and then so unread ones do not pile up.
    if (this.#entries.size > 10_000 && this.#entries.size % 1000 === 0) for (const k of [...this.#entries.keys()]) this.#get(k);
    this.#entries.set(key, { value, expiresAt: this.#clock.now() + Math.max(1, ttlMs) });
  }

  async countFailure(key: string, windowMs: number): Promise<number> {
    const k = `fail:${key}`;
    const e = this.#get<number>(k);
    if (e === undefined) {
      this.#set(k, 1, windowMs);
      return 1;
    }
    this.#entries.get(k)!.value = e + 1;
    return e + 1;
  }

  async failures(key: string): Promise<number> {
    return this.#get<number>(`fail:${key}`) ?? 0;
  }

  async clearFailures(key: string): Promise<void> {
    this.#entries.delete(`fail:${key}`);
  }

  async revokeToken(jti: string, ttlMs: number): Promise<void> {
    this.#set(`jti:${jti}`, 1, ttlMs);
  }

  async revokeSession(sid: string, ttlMs: number): Promise<void> {
    this.#set(`sid:${sid}`, 1, ttlMs);
  }

  async revokeUser(userId: number, atMs: number, ttlMs: number): Promise<void> {
    this.#set(`user:${userId}`, Math.max(atMs, this.#get<number>(`user:${userId}`) ?? 0), ttlMs);
  }

  async isRevoked(t: { jti?: string; sid: string; userId: number; issuedAtMs: number }): Promise<boolean> {
    if (t.jti !== undefined && this.#get(`jti:${t.jti}`) !== undefined) return true;
    if (this.#get(`sid:${t.sid}`) !== undefined) return true;
    const before = this.#get<number>(`user:${t.userId}`);
    return before !== undefined && t.issuedAtMs < before;
  }

  async saveRefresh(tokenHash: string, record: RefreshRecord, ttlMs: number): Promise<void> {
    this.#set(`refresh:${tokenHash}`, record, ttlMs);
  }

  async takeRefresh(tokenHash: string): Promise<RefreshRecord | undefined> {
    const record = this.#get<RefreshRecord>(`refresh:${tokenHash}`);
    this.#entries.delete(`refresh:${tokenHash}`);
    return record;
  }
}
