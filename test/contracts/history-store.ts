/**
 * The HistoryStore contract (services/common/src/history/types.ts, docs/delivery.md "History"), run against every
 * backend: memory (unit tier) and Redis (integration tier).
 */
import { describe, expect, it } from 'vitest';
import { privateConversation, type HistoryLimits, type HistoryMessage, type HistoryStore } from '../../services/common/src/history/types.ts';
import { withFixture, type StoreFixture } from './fixture.ts';

const LIMITS: HistoryLimits = { maxEntries: 100, ttlMs: 60_000 };
const ALICE = { userId: 11, userName: 'alice' };
const BOB = { userId: 12, userName: 'bob' };
const CONV = privateConversation(ALICE.userId, BOB.userId);

const message = (msgId: string, from = ALICE, to = BOB.userId): HistoryMessage => ({ msgId, from, to, text: `text of ${msgId}`, sentAt: 1_700_000_000_000 });

export function describeHistoryStoreContract(name: string, create: () => Promise<StoreFixture<HistoryStore>>): void {
  const withStore = (fn: (f: StoreFixture<HistoryStore>) => Promise<void>) => withFixture(create, fn);

  describe(`HistoryStore contract: ${name}`, () => {
    it('names a private conversation the same from both sides', () => {
      expect(privateConversation(12, 11)).toBe(privateConversation(11, 12));
      expect(privateConversation(11, 12)).not.toBe(privateConversation(11, 13));
    });

    it('orders both directions of a conversation by one gapless seq', withStore(async ({ store }) => {
      const seqs = [];
      for (let i = 0; i < 6; i++) seqs.push((await store.append(CONV, i % 2 === 0 ? message(`m${i}`) : message(`m${i}`, BOB, ALICE.userId), LIMITS)).seq);
      expect(seqs).toEqual([1, 2, 3, 4, 5, 6]);
      const page = await store.page(CONV, undefined, 10);
      expect(page.map((e) => [e.seq, e.msgId, e.from.userId, e.to])).toEqual([
        [1, 'm0', 11, 12], [2, 'm1', 12, 11], [3, 'm2', 11, 12], [4, 'm3', 12, 11], [5, 'm4', 11, 12], [6, 'm5', 12, 11],
      ]);
      expect(page[0]).toEqual({ seq: 1, ...message('m0') });
    }));

    it('pages backwards by seq: the newest `limit` before `beforeSeq`, each page in order, nothing twice or missed', withStore(async ({ store }) => {
      for (let i = 1; i <= 25; i++) await store.append(CONV, message(`m${i}`), LIMITS);
      const seen: number[] = [];
      let before: number | undefined;
      for (;;) {
        const page = await store.page(CONV, before, 10);
        if (page.length === 0) break;
        expect(page.map((e) => e.seq)).toEqual([...page.map((e) => e.seq)].sort((a, b) => a - b));
        seen.unshift(...page.map((e) => e.seq));
        before = page[0]!.seq;
      }
      expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
      expect((await store.page(CONV, 3, 10)).map((e) => e.seq)).toEqual([1, 2]);
    }));

    it('stores a retried message once', withStore(async ({ store }) => {
      expect(await store.append(CONV, message('a'), LIMITS)).toEqual({ seq: 1, duplicate: false });
      expect(await store.append(CONV, message('a'), LIMITS)).toEqual({ seq: 1, duplicate: true });
      expect(await store.append(CONV, message('a', BOB, ALICE.userId), LIMITS)).toEqual({ seq: 2, duplicate: false });
      expect(await store.page(CONV, undefined, 10)).toHaveLength(2);
    }));

    it('keeps the newest maxEntries; seqs go on from where they were', withStore(async ({ store }) => {
      const small = { ...LIMITS, maxEntries: 3 };
      for (let i = 1; i <= 5; i++) await store.append(CONV, message(`m${i}`), small);
      expect((await store.page(CONV, undefined, 10)).map((e) => e.msgId)).toEqual(['m3', 'm4', 'm5']);
      expect((await store.append(CONV, message('m6'), small)).seq).toBe(6);
    }));

    it('keeps conversations apart', withStore(async ({ store }) => {
      const other = privateConversation(ALICE.userId, 99);
      await store.append(CONV, message('to-bob'), LIMITS);
      await store.append(other, message('to-99', ALICE, 99), LIMITS);
      expect((await store.page(other, undefined, 10)).map((e) => [e.seq, e.msgId])).toEqual([[1, 'to-99']]);
      expect(await store.page(privateConversation(1, 2), undefined, 10)).toEqual([]);
    }));

    it('forgets a conversation ttl after its last message', withStore(async ({ store, advance }) => {
      await store.append(CONV, message('old'), { ...LIMITS, ttlMs: 150 });
      await advance(200);
      await expect.poll(() => store.page(CONV, undefined, 10), { timeout: 3000, interval: 50 }).toEqual([]);
      expect((await store.append(CONV, message('new'), LIMITS)).seq).toBe(2);
    }));

    it('refuses bad arguments loudly instead of storing them', withStore(async ({ store }) => {
      await expect(store.append('nope', message('a'), LIMITS)).rejects.toThrow(RangeError);
      await expect(store.append(CONV, { ...message('a'), msgId: 'bad id' }, LIMITS)).rejects.toThrow(RangeError);
      await expect(store.append(CONV, message('a'), { ...LIMITS, maxEntries: 0 })).rejects.toThrow(RangeError);
      await expect(store.page(CONV, 0, 10)).rejects.toThrow(RangeError);
      await expect(store.page(CONV, undefined, 1000)).rejects.toThrow(RangeError);
    }));
  });
}
