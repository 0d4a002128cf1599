/** The AccountStore contract, run against every backend: memory (unit tier) and Redis (integration tier). */
import { describe, expect, it } from 'vitest';
import type { AccountStore } from '../../services/common/src/route-store/account-store.ts';
import { withFixture, type StoreFixture } from './fixture.ts';

export function describeAccountStoreContract(name: string, create: () => Promise<StoreFixture<AccountStore>>): void {
  const withStore = (fn: (f: StoreFixture<AccountStore>) => Promise<void>) => withFixture(create, fn);

  describe(`AccountStore contract: ${name}`, () => {
    it('registers idempotently by name, with unique ids even under concurrency', withStore(async ({ store }) => {
      const names = Array.from({ length: 50 }, (_, i) => `user-${i}`);
      const first = await Promise.all(names.map((n) => store.registerAccount(n)));
      const again = await Promise.all([...names, ...names].map((n) => store.registerAccount(n)));
      expect(new Set(first.map((a) => a.userId)).size).toBe(50);
      expect(again).toHaveLength(100);
      for (const a of again) expect(a.userId).toBe(first.find((f) => f.userName === a.userName)!.userId);
      expect(await store.getAccount(first[0]!.userId)).toEqual(first[0]);
      expect(await store.getAccount(123)).toBeUndefined();
    }));

    it('returns the known accounts of a list, in order, leaving unknown ids out', withStore(async ({ store }) => {
      const a = await store.registerAccount('ann');
      const b = await store.registerAccount('bob');
      expect(await store.getAccounts([b.userId, 999, a.userId])).toEqual([b, a]);
      expect(await store.getAccounts([])).toEqual([]);
    }));

    it('keeps names that look like keys or are unusual apart from the store internals', withStore(async ({ store }) => {
      const names = ['login-status', 'cim-route:1', 'cim-account-last-id', '名前 ✓', ''];
      const accounts = await Promise.all(names.map((n) => store.registerAccount(n)));
      expect(new Set(accounts.map((a) => a.userId)).size).toBe(names.length);
      for (const a of accounts) expect(await store.getAccount(a.userId)).toEqual(a);
    }));
  });
}
