/**
 * Receivers' routes (user -> server), remembered on the sending side for a few seconds so a busy conversation
 * costs no Redis round trip per message. Staleness is corrected by the push itself: a server that no longer
 * holds the user answers "offline" for it, and then the route is looked up again and, when it names another
 * server (the user moved), pushed there once. The inbox is what guarantees delivery; this only saves
 * lookups on the live path. Only found routes are remembered: an offline user is looked up every time, so
 * a login is seen at once.
 */
import type { Clock } from './clock.ts';
import type { PushResult } from './push.ts';

/** Long enough to save most lookups of a busy receiver, short enough to bound an old route's extra hop. */
export const ROUTE_CACHE_TTL_MS = 5_000;
const ROUTE_CACHE_MAX = 100_000;

export class RouteCache {
  readonly #lookup: (userId: number) => Promise<string | undefined>;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #routes = new Map<number, { server: string; until: number }>();

  constructor(lookup: (userId: number) => Promise<string | undefined>, clock: Clock, ttlMs = ROUTE_CACHE_TTL_MS) {
    this.#lookup = lookup;
    this.#clock = clock;
    this.#ttlMs = ttlMs;
  }

  /** The user's server: remembered, else looked up (and remembered when found). @throws when the lookup fails */
  async get(userId: number): Promise<string | undefined> {
    const hit = this.#routes.get(userId);
    if (hit && hit.until > this.#clock.now()) return hit.server;
    return this.refresh(userId);
  }

  /** Looks the route up again, whatever is remembered. @throws when the lookup fails */
  async refresh(userId: number): Promise<string | undefined> {
    const server = await this.#lookup(userId);
    this.#routes.delete(userId);
    if (server === undefined) return undefined;
    // Bounded: past the cap the oldest entries go (Map keeps insertion order).
    if (this.#routes.size >= ROUTE_CACHE_MAX) this.#routes.delete(this.#routes.keys().next().value!);
    this.#routes.set(userId, { server, until: this.#clock.now() + this.#ttlMs });
    return server;
  }

  /** Forgets the remembered route when it still names `server` (it proved wrong there). */
  forget(userId: number, server: string): void {
    if (this.#routes.get(userId)?.server === server) this.#routes.delete(userId);
  }

  /**
   * Pushes to `server` (the route get() gave), starting the push synchronously so that pushes issued in order
   * leave in order; when that server says the user is not there (or fails), looks the route up again and
   * pushes once more if it moved. Resolves whether a session got it. Never throws.
   */
  deliver(userId: number, server: string, push: (server: string) => Promise<PushResult>): Promise<{ delivered: boolean; error?: unknown }> {
    const first = push(server).catch((err: unknown) => err);
    return first.then(async (result) => {
      if (isResult(result) && result.delivered > 0) return { delivered: true };
      this.forget(userId, server);
      let moved: string | undefined;
      try {
        moved = await this.refresh(userId);
      } catch (err) {
        return { delivered: false, error: err };
      }
      if (moved === undefined || moved === server) return isResult(result) ? { delivered: false } : { delivered: false, error: result };
      const second = await push(moved).catch((err: unknown) => err);
      return isResult(second) ? { delivered: second.delivered > 0 } : { delivered: false, error: second };
    });
  }
}

const isResult = (x: unknown): x is PushResult => typeof x === 'object' && x !== null && typeof (x as PushResult).delivered === 'number';
