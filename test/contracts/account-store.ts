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

    it('creates an account with its credential once; a second registration sees the first credential', withStore(async ({ store }) => {
      const racing = await Promise.all(['hash-a', 'hash-b', 'hash-c'].map((h) => store.registerWithCredential('carol', h)));
      expect(racing.filter((r) => r.created)).toHaveLength(1);
      const winner = racing.find((r) => r.created)!;
      expect(new Set(racing.map((r) => r.account.userId)).size).toBe(1);
      for (const r of racing) expect(r.credential).toBe(winner.credential);
      expect(await store.getCredential(winner.account.userId)).toBe(winner.credential);
      expect(await store.getAccount(winner.account.userId)).toEqual({ userId: winner.account.userId, userName: 'carol' });
    }));

    it('keeps accounts registered without a credential credential-less, and changes credentials only of existing accounts', withStore(async ({ store }) => {
      const open = await store.registerAccount('dave');
      expect(await store.getCredential(open.userId)).toBeUndefined();
      expect(await store.registerWithCredential('dave', 'h1')).toEqual({ account: open, credential: undefined, created: false });
      expect(await store.setCredential(open.userId, 'h2')).toBe(true);
      expect(await store.getCredential(open.userId)).toBe('h2');
      expect(await store.setCredential(987654321, 'h3')).toBe(false);
      expect(await store.getCredential(987654321)).toBeUndefined();
    }));
  });
}
