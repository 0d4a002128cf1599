/**
 * The InboxStore contract (services/common/src/inbox/types.ts, docs/delivery.md), run against every
 * backend: memory (unit tier) and Redis (integration tier).
 */
import { describe, expect, it } from 'vitest';
import type { InboxLimits, InboxMessage, InboxStore } from '../../services/common/src/inbox/types.ts';
import { withFixture, type StoreFixture } from './fixture.ts';

const LIMITS: InboxLimits = { maxEntries: 1000, ttlMs: 60_000 };
const ALICE = { userId: 11, userName: 'alice' };
const BOB = { userId: 12, userName: 'bob' };
const RECEIVER = 42;

const message = (msgId: string, text = `text of ${msgId}`, from = ALICE): InboxMessage => ({
  msgId,
  from,
  text,
  sentAt: 1_700_000_000_000,
  chatType: 'private',
});

export function describeInboxStoreContract(name: string, create: () => Promise<StoreFixture<InboxStore>>): void {
  const withStore = (fn: (f: StoreFixture<InboxStore>) => Promise<void>) => withFixture(create, fn);

  describe(`InboxStore contract: ${name}`, () => {
    it('gives each user seqs 1, 2, 3... without gaps', withStore(async ({ store }) => {
      expect(await store.maxSeq(RECEIVER)).toBe(0);
      const seqs = [];
      for (let i = 0; i < 5; i++) seqs.push((await store.append(RECEIVER, message(`m${i}`), LIMITS)).seq);
      expect(seqs).toEqual([1, 2, 3, 4, 5]);
      expect((await store.append(RECEIVER + 1, message('m0'), LIMITS)).seq).toBe(1);
      expect(await store.maxSeq(RECEIVER)).toBe(5);
      expect(await store.maxSeq(RECEIVER + 1)).toBe(1);
    }));

    it('stores a retried message once and returns the seq it has, also after its ack', withStore(async ({ store }) => {
      expect(await store.append(RECEIVER, message('a'), LIMITS)).toEqual({ seq: 1, duplicate: false, dropped: 0 });
      expect(await store.append(RECEIVER, message('a', 'changed text'), LIMITS)).toEqual({ seq: 1, duplicate: true, dropped: 0 });
      // The same msgId from another sender is another message.
      expect(await store.append(RECEIVER, message('a', 'x', BOB), LIMITS)).toEqual({ seq: 2, duplicate: false, dropped: 0 });
      const pending = await store.pending(RECEIVER, 0, 10);
      expect(pending.map((e) => [e.seq, e.from.userId, e.text])).toEqual([[1, ALICE.userId, 'text of a'], [2, BOB.userId, 'x']]);

      expect((await store.ack(RECEIVER, [1])).map((e) => e.seq)).toEqual([1]);
      expect(await store.append(RECEIVER, message('a'), LIMITS)).toEqual({ seq: 1, duplicate: true, dropped: 0 });
      expect((await store.pending(RECEIVER, 0, 10)).map((e) => e.seq)).toEqual([2]);
      expect(await store.maxSeq(RECEIVER)).toBe(2);
    }));

    it('stores one of many concurrent appends of one message', withStore(async ({ store }) => {
      const results = await Promise.all(Array.from({ length: 50 }, () => store.append(RECEIVER, message('same'), LIMITS)));
      expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
      expect(results.filter((r) => r.duplicate)).toHaveLength(49);
      expect(new Set(results.map((r) => r.seq))).toEqual(new Set([1]));
      expect(await store.pending(RECEIVER, 0, 100)).toHaveLength(1);
    }));

    it('gives 200 concurrent appends 200 distinct gapless seqs and keeps all 200', withStore(async ({ store }) => {
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => store.append(RECEIVER, message(`c${i}`), LIMITS)));
      expect(results.filter((r) => r.duplicate || r.dropped > 0)).toHaveLength(0);
      expect(results.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      const pending = await store.pending(RECEIVER, 0, 1000);
      expect(pending).toHaveLength(200);
      expect(pending.map((e) => e.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      // Each message carries the seq its append returned.
      results.forEach((r, i) => expect(pending[r.seq - 1]!.msgId).toBe(`c${i}`));
      expect(await store.maxSeq(RECEIVER)).toBe(200);
    }));

    it('returns pending entries oldest first, after a seq, a page at a time', withStore(async ({ store }) => {
      for (let i = 1; i <= 10; i++) await store.append(RECEIVER, message(`p${i}`), LIMITS);
      expect((await store.pending(RECEIVER, 0, 4)).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      expect((await store.pending(RECEIVER, 4, 4)).map((e) => e.seq)).toEqual([5, 6, 7, 8]);
      expect((await store.pending(RECEIVER, 8, 4)).map((e) => e.seq)).toEqual([9, 10]);
      expect(await store.pending(RECEIVER, 10, 4)).toEqual([]);
      await store.ack(RECEIVER, [2, 3, 6]);
      expect((await store.pending(RECEIVER, 1, 3)).map((e) => e.seq)).toEqual([4, 5, 7]);
      expect(await store.pending(RECEIVER + 1, 0, 10)).toEqual([]);
    }));

    it('acks exactly the given seqs, returns the removed entries, and is harmless twice', withStore(async ({ store }) => {
      for (let i = 1; i <= 6; i++) await store.append(RECEIVER, message(`k${i}`), LIMITS);
      const removed = await store.ack(RECEIVER, [5, 2, 2, 99]);
      expect(removed.map((e) => [e.seq, e.msgId])).toEqual([[2, 'k2'], [5, 'k5']]);
      expect(await store.ack(RECEIVER, [2, 5])).toEqual([]);
      expect(await store.ack(RECEIVER, [])).toEqual([]);
      expect(await store.ack(RECEIVER + 1, [1])).toEqual([]);
      expect((await store.pending(RECEIVER, 0, 10)).map((e) => e.seq)).toEqual([1, 3, 4, 6]);
      // Concurrent acks of one seq: one of them gets the entry.
      const both = await Promise.all([store.ack(RECEIVER, [3]), store.ack(RECEIVER, [3])]);
      expect(both.flat().map((e) => e.seq)).toEqual([3]);
    }));

    it('keeps at most maxEntries, dropping the oldest and counting them', withStore(async ({ store }) => {
      const limits = { ...LIMITS, maxEntries: 3 };
      const dropped = [];
      for (let i = 1; i <= 5; i++) dropped.push((await store.append(RECEIVER, message(`b${i}`), limits)).dropped);
      expect(dropped).toEqual([0, 0, 0, 1, 1]);
      expect((await store.pending(RECEIVER, 0, 10)).map((e) => e.msgId)).toEqual(['b3', 'b4', 'b5']);
      // Room made by an ack is used before anything is dropped.
      await store.ack(RECEIVER, [4]);
      expect((await store.append(RECEIVER, message('b6'), limits)).dropped).toBe(0);
      expect((await store.pending(RECEIVER, 0, 10)).map((e) => e.seq)).toEqual([3, 5, 6]);
    }));

    it('remembers the ids of the last 2 x maxEntries appends for idempotency', withStore(async ({ store }) => {
      const limits = { ...LIMITS, maxEntries: 2 };
      for (let i = 1; i <= 5; i++) await store.append(RECEIVER, message(`i${i}`), limits);
      expect(await store.append(RECEIVER, message('i2'), limits)).toEqual({ seq: 2, duplicate: true, dropped: 0 });
      // i1 fell out of the index (4 ids kept): a late retry is stored again, with a new seq.
      expect(await store.append(RECEIVER, message('i1'), limits)).toEqual({ seq: 6, duplicate: false, dropped: 1 });
    }));

    it('expires the inbox ttl after its last append, keeping the seq counter', withStore(async ({ store, advance }) => {
      // Margins are wide because Redis expires keys on its own (real) clock.
      const limits = { ...LIMITS, ttlMs: 1500 };
      await store.append(RECEIVER, message('t1'), limits);
      await advance(900);
      await store.append(RECEIVER, message('t2'), limits); // refreshes the whole inbox
      await advance(900);
      expect((await store.pending(RECEIVER, 0, 10)).map((e) => e.msgId)).toEqual(['t1', 't2']);
      await advance(700);
      await expect.poll(() => store.pending(RECEIVER, 0, 10)).toEqual([]);
      expect(await store.maxSeq(RECEIVER)).toBe(2);
      expect(await store.ack(RECEIVER, [1, 2])).toEqual([]);
      expect(await store.append(RECEIVER, message('t3'), limits)).toEqual({ seq: 3, duplicate: false, dropped: 0 });
    }));

    it('keeps every field: unicode, JSON-like and 64 KiB texts, group chat type', withStore(async ({ store }) => {
      const sender = { userId: 1_700_000_000_123, userName: 'Zoë 名前 🚀 "q" \\ \n' };
      const texts = ['héllo wörld 你好 🎉👍🏽', '{"seq":999,"msgId":"x"}', '\u0000 \u2028 \ud83d\ude00 \\"', 'x'.repeat(64 * 1024), 'ü'.repeat(64 * 1024), ''];
      const messages: InboxMessage[] = texts.map((text, i) => ({ msgId: `f-${i}_Z`, from: sender, text, sentAt: 1_700_000_000_000 + i, chatType: i % 2 ? 'group' : 'private' }));
      for (const m of messages) await store.append(RECEIVER, m, LIMITS);
      const expected = messages.map((m, i) => ({ ...m, seq: i + 1 }));
      expect(await store.pending(RECEIVER, 0, 100)).toEqual(expected);
      expect(await store.ack(RECEIVER, expected.map((e) => e.seq))).toEqual(expected);
    }));

    it('refuses a sender beyond maxPerSender, using no seq, and keeps every other sender\'s messages', withStore(async ({ store }) => {
      const limits = { ...LIMITS, maxEntries: 10, maxPerSender: 3 };
      const spam = [];
      for (let i = 1; i <= 5; i++) spam.push(await store.append(RECEIVER, message(`s${i}`), limits));
      expect(spam.filter((r) => r.refused === undefined).map((r) => r.seq)).toEqual([1, 2, 3]);
      expect(spam.filter((r) => r.refused === 'per-sender')).toEqual([
        { seq: 0, duplicate: false, dropped: 0, refused: 'per-sender' },
        { seq: 0, duplicate: false, dropped: 0, refused: 'per-sender' },
      ]);
      // A retry of a stored message is still a duplicate, not a refusal.
      expect(await store.append(RECEIVER, message('s1'), limits)).toEqual({ seq: 1, duplicate: true, dropped: 0 });
      // Another sender, and the same sender to another receiver, are not affected; refusals used no seq.
      expect(await store.append(RECEIVER, message('f1', 'friend', BOB), limits)).toEqual({ seq: 4, duplicate: false, dropped: 0 });
      expect((await store.append(RECEIVER + 1, message('s9'), limits)).seq).toBe(1);
      expect((await store.pending(RECEIVER, 0, 100)).map((e) => e.msgId)).toEqual(['s1', 's2', 's3', 'f1']);
      expect(await store.maxSeq(RECEIVER)).toBe(4);
      // An ack frees room for exactly one more; acking it twice frees nothing more.
      await store.ack(RECEIVER, [2]);
      await store.ack(RECEIVER, [2]);
      expect((await store.append(RECEIVER, message('s6'), limits)).seq).toBe(5);
      expect((await store.append(RECEIVER, message('s7'), limits)).refused).toBe('per-sender');
      expect((await store.pending(RECEIVER, 0, 100)).map((e) => e.msgId)).toEqual(['s1', 's3', 'f1', 's6']);
    }));

    it('stores exactly maxPerSender of many concurrent appends of one sender', withStore(async ({ store }) => {
      const limits = { ...LIMITS, maxPerSender: 10 };
      const results = await Promise.all(Array.from({ length: 60 }, (_, i) => store.append(RECEIVER, message(`c${i}`), limits)));
      const stored = results.filter((r) => r.refused === undefined);
      expect(stored.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
      expect(results.filter((r) => r.refused === 'per-sender')).toHaveLength(50);
      expect(await store.pending(RECEIVER, 0, 100)).toHaveLength(10);
    }));

    it('releases a sender\'s count when its entries are dropped for the inbox bound, and caps maxPerSender at maxEntries', withStore(async ({ store }) => {
      const limits = { ...LIMITS, maxEntries: 3, maxPerSender: 2 };
      await store.append(RECEIVER, message('a1'), limits);
      await store.append(RECEIVER, message('a2'), limits);
      await store.append(RECEIVER, message('b1', 'b', BOB), limits);
      expect(await store.append(RECEIVER, message('b2', 'b', BOB), limits)).toEqual({ seq: 4, duplicate: false, dropped: 1 }); // a1 out
      expect((await store.append(RECEIVER, message('a3'), limits)).dropped).toBe(1); // alice held 1: a2 out
      expect((await store.pending(RECEIVER, 0, 10)).map((e) => e.msgId)).toEqual(['b1', 'b2', 'a3']);
      expect((await store.append(RECEIVER, message('b3', 'b', BOB), limits)).refused).toBe('per-sender');
      // maxPerSender above maxEntries: one sender fills the inbox, then is refused rather than dropping its own.
      const wide = { ...LIMITS, maxEntries: 3, maxPerSender: 100 };
      const r = [];
      for (let i = 1; i <= 4; i++) r.push(await store.append(RECEIVER + 1, message(`w${i}`), wide));
      expect(r.map((x) => [x.seq, x.dropped, x.refused ?? null])).toEqual([[1, 0, null], [2, 0, null], [3, 0, null], [0, 0, 'per-sender']]);
    }));

    it('forgets the per-sender counts when the inbox expires', withStore(async ({ store, advance }) => {
      const limits = { ...LIMITS, ttlMs: 1500, maxPerSender: 2 };
      await store.append(RECEIVER, message('e1'), limits);
      await store.append(RECEIVER, message('e2'), limits);
      expect((await store.append(RECEIVER, message('e3'), limits)).refused).toBe('per-sender');
      await advance(1600);
      await expect.poll(() => store.pending(RECEIVER, 0, 10)).toEqual([]);
      expect(await store.append(RECEIVER, message('e4'), limits)).toEqual({ seq: 3, duplicate: false, dropped: 0 });
      expect((await store.append(RECEIVER, message('e5'), limits)).seq).toBe(4);
    }));

    it('rejects invalid arguments and stores nothing for them', withStore(async ({ store }) => {
      const bad: InboxMessage[] = [
        message('has space'),
        message('x'.repeat(65)),
        message(''),
        { ...message('ok'), chatType: 'other' as 'private' },
        { ...message('ok'), from: { userId: -1, userName: 'n' } },
        { ...message('ok'), sentAt: Number.NaN },
        { ...message('ok'), text: 5 as unknown as string },
      ];
      for (const m of bad) await expect(store.append(RECEIVER, m, LIMITS)).rejects.toThrow(RangeError);
      await expect(store.append(0, message('ok'), LIMITS)).rejects.toThrow(RangeError);
      await expect(store.append(RECEIVER, message('ok'), { maxEntries: 0, ttlMs: 1 })).rejects.toThrow(RangeError);
      await expect(store.append(RECEIVER, message('ok'), { maxEntries: 1, ttlMs: 0.5 })).rejects.toThrow(RangeError);
      await expect(store.append(RECEIVER, message('ok'), { ...LIMITS, maxPerSender: 0 })).rejects.toThrow(RangeError);
      await expect(store.append(RECEIVER, message('ok'), { ...LIMITS, maxPerSender: 1.5 })).rejects.toThrow(RangeError);
      await expect(store.pending(RECEIVER, -1, 10)).rejects.toThrow(RangeError);
      await expect(store.pending(RECEIVER, 0, 0)).rejects.toThrow(RangeError);
      await expect(store.ack(RECEIVER, [1, 0])).rejects.toThrow(RangeError);
      await expect(store.ack(RECEIVER, [1.5])).rejects.toThrow(RangeError);
      expect(await store.maxSeq(RECEIVER)).toBe(0);
      expect(await store.pending(RECEIVER, 0, 10)).toEqual([]);
    }));
  });
}
