/**
 * The RouteStore contract, run against every backend: memory (unit tier) and Redis (integration
 * tier). `advance(ms)` moves the backend's notion of time (a manual clock, or real waiting).
 */
import { describe, expect, it } from 'vitest';
import type { RouteStore } from '../../services/common/src/route-store/types.ts';

export interface RouteStoreFixture {
  store: RouteStore;
  /** lets `ms` of the store's time pass */
  advance(ms: number): Promise<void>;
  close(): Promise<void>;
}

export function describeRouteStoreContract(name: string, create: () => Promise<RouteStoreFixture>): void {
  const withStore = (fn: (f: RouteStoreFixture) => Promise<void>) => async () => {
    const f = await create();
    try {
      await fn(f);
    } finally {
      await f.close();
    }
  };

  describe(`RouteStore contract: ${name}`, () => {
    it('registers idempotently by name, with unique ids even under concurrency', withStore(async ({ store }) => {
      const names = Array.from({ length: 50 }, (_, i) => `user-${i}`);
      const first = await Promise.all(names.map((n) => store.registerAccount(n)));
      const again = await Promise.all([...names, ...names].map((n) => store.registerAccount(n)));
      expect(new Set(first.map((a) => a.userId)).size).toBe(50);
      for (const a of again) expect(a.userId).toBe(first.find((f) => f.userName === a.userName)!.userId);
      expect(await store.getAccount(first[0]!.userId)).toEqual(first[0]);
      expect(await store.getAccount(123)).toBeUndefined();
    }));

    it('keeps names that look like keys apart from the store internals', withStore(async ({ store }) => {
      const weird = await store.registerAccount('login-status');
      const other = await store.registerAccount('cim-route:1');
      await store.login(weird.userId, 'h:1:2', 60_000);
      expect((await store.onlineUsers()).map((a) => a.userName)).toEqual(['login-status']);
      expect(await store.getAccount(other.userId)).toEqual(other);
    }));

    it('lets exactly one of concurrent logins of a user succeed', withStore(async ({ store }) => {
      const { userId } = await store.registerAccount('racer');
      const results = await Promise.all(['a:1:1', 'b:1:1', 'c:1:1', 'd:1:1'].map((s) => store.login(userId, s, 60_000)));
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      const winner = await store.getRoute(userId);
      for (const r of results) if (!r.ok) expect(r.currentServer).toBe(winner);
    }));

    it('takes over a route only from the named dead server', withStore(async ({ store }) => {
      const { userId } = await store.registerAccount('mover');
      await store.login(userId, 'dead:1:1', 60_000);
      expect(await store.login(userId, 'new:1:1', 60_000, 'other:1:1')).toEqual({ ok: false, currentServer: 'dead:1:1' });
      expect(await store.login(userId, 'new:1:1', 60_000, 'dead:1:1')).toEqual({ ok: true });
      expect(await store.getRoute(userId)).toBe('new:1:1');
    }));

    it('logs out only from the server that holds the user when a server is given', withStore(async ({ store }) => {
      const { userId, userName } = await store.registerAccount('walker');
      await store.login(userId, 's1:1:1', 60_000);
      expect(await store.logout(userId, 's2:1:1')).toBe(false);
      expect(await store.onlineUsers()).toEqual([{ userId, userName }]);
      expect(await store.logout(userId, 's1:1:1')).toBe(true);
      expect(await store.onlineUsers()).toEqual([]);
      await store.login(userId, 's2:1:1', 60_000);
      expect(await store.logout(userId)).toBe(true);
      expect(await store.getRoute(userId)).toBeUndefined();
    }));

    it('expires presence without refresh and keeps it with refresh', withStore(async ({ store, advance }) => {
      const a = await store.registerAccount('kept');
      const b = await store.registerAccount('lost');
      // Margins are wide because Redis expires keys on its own (real) clock.
      await store.login(a.userId, 's:1:1', 1500);
      await store.login(b.userId, 's:1:1', 1500);
      await advance(900);
      expect(await store.refreshPresence('s:1:1', [a.userId], 1500)).toEqual({ movedElsewhere: [] });
      await advance(900);
      expect(await store.getRoute(b.userId)).toBeUndefined();
      expect(await store.getRoute(a.userId)).toBe('s:1:1');
      expect(await store.onlineUsers()).toEqual([a]);
    }));

    it('re-creates expired presence on refresh and reports users routed elsewhere', withStore(async ({ store, advance }) => {
      const a = await store.registerAccount('back');
      const b = await store.registerAccount('elsewhere');
      await store.login(a.userId, 's:1:1', 100);
      await store.login(b.userId, 'other:1:1', 60_000);
      await advance(150);
      expect(await store.refreshPresence('s:1:1', [a.userId, b.userId], 60_000)).toEqual({ movedElsewhere: [b.userId] });
      expect(await store.getRoute(a.userId)).toBe('s:1:1');
      expect(await store.getRoute(b.userId)).toBe('other:1:1');
    }));

    it('stores offline messages in order, bounded, and restores undelivered ones', withStore(async ({ store }) => {
      const props = { sendUserId: '1' };
      for (let i = 0; i < 5; i++) await store.saveOffline(7, { msg: `m${i}`, properties: props, createdAt: i }, 60_000, 4);
      const taken = await store.takeOffline(7, 3);
      expect(taken.map((m) => m.msg)).toEqual(['m1', 'm2', 'm3']);
      await store.restoreOffline(7, taken.slice(1), 60_000);
      expect((await store.takeOffline(7, 10)).map((m) => m.msg)).toEqual(['m2', 'm3', 'm4']);
      expect(await store.takeOffline(7, 10)).toEqual([]);
    }));
  });
}
