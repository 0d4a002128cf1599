/** The AuthStore contract, run against every backend: memory (unit tier) and Redis (integration tier). */
import { describe, expect, it } from 'vitest';
import { withFixture, type StoreFixture } from './fixture.ts';
import type { AuthStore } from '../../services/common/src/auth-store.ts';

export function describeAuthStoreContract(name: string, create: () => Promise<StoreFixture<AuthStore>>): void {
  const withStore = (fn: (f: StoreFixture<AuthStore>) => Promise<void>) => withFixture(create, fn);

  describe(`AuthStore contract: ${name}`, () => {
    it('counts failures per key in a window that starts at the first failure, and clears them', withStore(async ({ store, advance }) => {
      expect(await Promise.all([1, 2, 3].map(() => store.countFailure('acct:1', 300)))).toEqual(expect.arrayContaining([1, 2, 3]));
      expect(await store.failures('acct:1')).toBe(3);
      expect(await store.failures('acct:2')).toBe(0);
      await store.clearFailures('acct:1');
      expect(await store.failures('acct:1')).toBe(0);
      await store.countFailure('addr:x', 200);
      await advance(450);
      expect(await store.failures('addr:x')).toBe(0);
    }));

    it('revokes one token, one session, or every token of a user issued before a time', withStore(async ({ store }) => {
      const t = { jti: 'j1', sid: 's1', userId: 7, issuedAtMs: 1000 };
      expect(await store.isRevoked(t)).toBe(false);
      await store.revokeToken('j1', 60_000);
      expect(await store.isRevoked(t)).toBe(true);
      expect(await store.isRevoked({ ...t, jti: 'j2' })).toBe(false);
      await store.revokeSession('s2', 60_000);
      expect(await store.isRevoked({ ...t, jti: 'j3', sid: 's2' })).toBe(true);
      await store.revokeUser(8, 5000, 60_000);
      await store.revokeUser(8, 4000, 60_000); // an older revocation never shortens a newer one
      expect(await store.isRevoked({ jti: 'j4', sid: 's4', userId: 8, issuedAtMs: 4999 })).toBe(true);
      expect(await store.isRevoked({ jti: 'j5', sid: 's5', userId: 8, issuedAtMs: 5000 })).toBe(false);
      expect(await store.isRevoked({ sid: 's5', userId: 8, issuedAtMs: 10 })).toBe(true);
    }));

    it('hands out a refresh record once, even to concurrent takers, and forgets it after its TTL', withStore(async ({ store, advance }) => {
      const record = { userId: 9, sid: 's', issuedAtMs: 123 };
      await store.saveRefresh('h1', record, 60_000);
      const taken = await Promise.all([store.takeRefresh('h1'), store.takeRefresh('h1'), store.takeRefresh('h1')]);
      expect(taken.filter((r) => r !== undefined)).toEqual([record]);
      await store.saveRefresh('h2', record, 200);
      await advance(450);
      expect(await store.takeRefresh('h2')).toBeUndefined();
    }));
  });
}
