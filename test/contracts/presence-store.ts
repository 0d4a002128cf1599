/**
 * The PresenceStore contract, run against every backend: memory (unit tier) and Redis (integration
 * tier). Presence lists users with their names, so the fixture's store holds accounts too.
 */
import { describe, expect, it } from 'vitest';
import type { AccountStore } from '../../services/common/src/route-store/account-store.ts';
import type { PresenceStore } from '../../services/common/src/route-store/presence-store.ts';
import { withFixture, type StoreFixture } from './fixture.ts';

type Store = PresenceStore & AccountStore;

export function describePresenceStoreContract(name: string, create: () => Promise<StoreFixture<Store>>): void {
  const withStore = (fn: (f: StoreFixture<Store>) => Promise<void>) => withFixture(create, fn);

  describe(`PresenceStore contract: ${name}`, () => {
    it('lists only online users, by name, even with names that look like keys', withStore(async ({ store }) => {
      const weird = await store.registerAccount('login-status');
      const other = await store.registerAccount('cim-route:1');
      await store.login(weird.userId, 'h:1:2', 60_000);
      expect(await store.onlineUsers()).toEqual([weird]);
      expect(await store.getRoute(other.userId)).toBeUndefined();
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
      expect(await store.logout(userId, 's1:1:1')).toBe(false);
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
      await expect.poll(() => store.getRoute(a.userId)).toBeUndefined();
      expect(await store.refreshPresence('s:1:1', [a.userId, b.userId], 60_000)).toEqual({ movedElsewhere: [b.userId] });
      expect(await store.getRoute(a.userId)).toBe('s:1:1');
      expect(await store.getRoute(b.userId)).toBe('other:1:1');
    }));
  });
}
