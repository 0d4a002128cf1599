/**
 * The several-devices part of the InboxStore contract (DeviceInboxStore in services/common/src/inbox/types.ts,
 * docs/delivery.md "Several devices"), run against every backend that offers it.
 */
import { describe, expect, it } from 'vitest';
import type { DeviceInboxStore, DeviceLimits, InboxLimits, InboxMessage } from '../../services/common/src/inbox/types.ts';
import { withFixture, type StoreFixture } from './fixture.ts';

const LIMITS: InboxLimits = { maxEntries: 1000, ttlMs: 60_000 };
const ALICE = { userId: 11, userName: 'alice' };
const BOB = { userId: 12, userName: 'bob' };
const USER = 42;
const NOW = 1_700_000_000_000;
const devs = (over: Partial<DeviceLimits> = {}): DeviceLimits => ({ maxDevices: 5, idleMs: 86_400_000, now: NOW, keep: [], ...over });

const message = (msgId: string, from = ALICE, extra: Partial<InboxMessage> = {}): InboxMessage => ({ msgId, from, text: `text of ${msgId}`, sentAt: NOW, chatType: 'private', ...extra });
const seqsOf = async (store: DeviceInboxStore, device: string) => (await store.pending(USER, 0, 1000, device)).map((e) => e.seq);

export function describeInboxDevicesContract(name: string, create: () => Promise<StoreFixture<DeviceInboxStore>>): void {
  const withStore = (fn: (f: StoreFixture<DeviceInboxStore>) => Promise<void>) => withFixture(create, fn);

  describe(`InboxStore devices contract: ${name}`, () => {
    it('the first linked device inherits the default inbox; later appends reach every device under one seq', withStore(async ({ store }) => {
      await store.append(USER, message('before1'), LIMITS);
      await store.append(USER, message('before2'), LIMITS);
      expect(await store.linkDevice(USER, 'phone', devs())).toEqual({ ok: true, evicted: [] });
      expect(await seqsOf(store, 'phone')).toEqual([1, 2]);
      expect(await seqsOf(store, '')).toEqual([]);
      expect(await store.linkDevice(USER, 'laptop', devs({ now: NOW + 1 }))).toEqual({ ok: true, evicted: [] });
      expect(await seqsOf(store, 'laptop')).toEqual([]); // a new device sees older messages through history, not its inbox

      const results = [];
      for (let i = 0; i < 5; i++) results.push(await store.append(USER, message(`m${i}`), LIMITS));
      expect(results.map((r) => [r.seq, r.duplicate, r.dropped])).toEqual([3, 4, 5, 6, 7].map((s) => [s, false, 0]));
      expect(await seqsOf(store, 'phone')).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(await seqsOf(store, 'laptop')).toEqual([3, 4, 5, 6, 7]);
      // A retry is a duplicate for the user, whatever device acknowledged it.
      expect(await store.append(USER, message('m0'), LIMITS)).toEqual({ seq: 3, duplicate: true, dropped: 0 });
      expect(await store.maxSeq(USER)).toBe(7);
      expect((await store.devices(USER)).map((d) => [d.device, d.lastSeen])).toEqual([['laptop', NOW + 1], ['phone', NOW]]);
    }));

    it('each device acknowledges only its own copy', withStore(async ({ store }) => {
      await store.linkDevice(USER, 'a', devs());
      await store.linkDevice(USER, 'b', devs());
      for (let i = 0; i < 4; i++) await store.append(USER, message(`k${i}`), LIMITS);
      expect((await store.ack(USER, [1, 2], 'a')).map((e) => e.msgId)).toEqual(['k0', 'k1']);
      expect(await store.ack(USER, [1, 2], 'a')).toEqual([]);
      expect(await seqsOf(store, 'a')).toEqual([3, 4]);
      expect(await seqsOf(store, 'b')).toEqual([1, 2, 3, 4]);
      expect((await store.ack(USER, [1, 2, 3, 4], 'b')).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      expect(await seqsOf(store, 'a')).toEqual([3, 4]);
      // The default inbox is not a linked device here: nothing to acknowledge in it.
      expect(await store.ack(USER, [3], '')).toEqual([]);
    }));

    it('stores a carbon copy for every linked device but the sender\'s, and for nobody when it has no other', withStore(async ({ store }) => {
      const carbon = (id: string) => message(id, { userId: USER, userName: 'me' }, { carbonTo: BOB.userId });
      // No device linked: a carbon goes nowhere and uses no seq.
      expect(await store.append(USER, carbon('c0'), LIMITS, { exceptDevice: '' })).toEqual({ seq: 0, duplicate: false, dropped: 0, refused: 'no-device' });
      await store.linkDevice(USER, 'a', devs());
      expect((await store.append(USER, carbon('c1'), LIMITS, { exceptDevice: 'a' })).refused).toBe('no-device');
      await store.linkDevice(USER, 'b', devs());
      expect(await store.append(USER, carbon('c2'), LIMITS, { exceptDevice: 'a' })).toEqual({ seq: 1, duplicate: false, dropped: 0 });
      expect(await seqsOf(store, 'a')).toEqual([]);
      const [copy] = await store.pending(USER, 0, 10, 'b');
      expect(copy).toEqual({ ...carbon('c2'), seq: 1 });
      expect(await store.maxSeq(USER)).toBe(1);
    }));

    it('refuses a sender holding the cap in any device\'s inbox, and drops per device', withStore(async ({ store }) => {
      const limits = { maxEntries: 3, ttlMs: 60_000, maxPerSender: 2 };
      await store.linkDevice(USER, 'a', devs());
      await store.linkDevice(USER, 'b', devs());
      await store.append(USER, message('s1'), limits);
      await store.append(USER, message('s2'), limits);
      await store.ack(USER, [1, 2], 'a');
      // b still holds alice's two: refused, no seq used.
      expect((await store.append(USER, message('s3'), limits)).refused).toBe('per-sender');
      expect(await store.maxSeq(USER)).toBe(2);
      await store.ack(USER, [1], 'b');
      expect((await store.append(USER, message('s3'), limits)).seq).toBe(3);
      // Bob fills: a has room for 3, b holds alice's s2, s3 + bob's: each device drops its own oldest.
      expect((await store.append(USER, message('b1', BOB), limits)).dropped).toBe(0);
      expect(await store.append(USER, message('b2', BOB), limits)).toEqual({ seq: 5, duplicate: false, dropped: 1 });
      expect(await seqsOf(store, 'a')).toEqual([3, 4, 5]);
      expect(await seqsOf(store, 'b')).toEqual([3, 4, 5]);
    }));

    it('unlinks idle devices, then the least recently seen beyond maxDevices, never a kept one', withStore(async ({ store }) => {
      await store.linkDevice(USER, 'old', devs({ now: NOW }));
      await store.linkDevice(USER, 'mid', devs({ now: NOW + 10 }));
      await store.append(USER, message('x'), LIMITS);
      expect(await store.linkDevice(USER, 'new', devs({ now: NOW + 20, maxDevices: 2 }))).toEqual({ ok: true, evicted: ['old'] });
      expect(await seqsOf(store, 'old')).toEqual([]);
      expect(await seqsOf(store, 'mid')).toEqual([1]);
      // Both others live: no room.
      expect(await store.linkDevice(USER, 'fourth', devs({ now: NOW + 30, maxDevices: 2, keep: ['mid', 'new'] }))).toEqual({ ok: false, reason: 'too-many-devices' });
      // Re-linking a linked device refreshes it and unlinks nothing.
      expect(await store.linkDevice(USER, 'mid', devs({ now: NOW + 40, maxDevices: 2 }))).toEqual({ ok: true, evicted: [] });
      // Idle beyond idleMs: unlinked at the next link, unless kept.
      expect(await store.linkDevice(USER, 'fifth', devs({ now: NOW + 1000, idleMs: 500, keep: ['mid'] }))).toEqual({ ok: true, evicted: ['new'] });
      expect((await store.devices(USER)).map((d) => d.device)).toEqual(['fifth', 'mid']);
    }));

    it('unlinking every device returns the user to the default inbox', withStore(async ({ store }) => {
      await store.linkDevice(USER, 'a', devs());
      await store.append(USER, message('m1'), LIMITS);
      expect(await store.unlinkDevice(USER, 'a')).toBe(true);
      expect(await store.unlinkDevice(USER, 'a')).toBe(false);
      expect(await seqsOf(store, 'a')).toEqual([]);
      expect(await store.devices(USER)).toEqual([]);
      expect((await store.append(USER, message('m2'), LIMITS)).seq).toBe(2);
      expect(await seqsOf(store, '')).toEqual([2]);
    }));

    it('gives 100 concurrent appends distinct seqs, each in every linked device, with a link racing them', withStore(async ({ store }) => {
      await store.linkDevice(USER, 'a', devs());
      await store.linkDevice(USER, 'b', devs());
      const [results] = await Promise.all([
        Promise.all(Array.from({ length: 100 }, (_, i) => store.append(USER, message(`r${i}`), LIMITS))),
        store.linkDevice(USER, 'c', devs()),
      ]);
      expect(results.map((r) => r.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      expect(await seqsOf(store, 'a')).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      expect(await seqsOf(store, 'b')).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      // c gets every append that ran after its link: a suffix of the seqs, never a gap in the middle.
      const c = await seqsOf(store, 'c');
      expect(c).toEqual(c.length === 0 ? [] : Array.from({ length: c.length }, (_, i) => 101 - c.length + i));
    }));

    it('rejects bad devices and limits', withStore(async ({ store }) => {
      for (const bad of ['has space', 'x'.repeat(65), 'semi;colon', 'a/b']) {
        await expect(store.linkDevice(USER, bad, devs())).rejects.toThrow(RangeError);
        await expect(store.pending(USER, 0, 10, bad)).rejects.toThrow(RangeError);
        await expect(store.ack(USER, [1], bad)).rejects.toThrow(RangeError);
        await expect(store.append(USER, message('m'), LIMITS, { exceptDevice: bad })).rejects.toThrow(RangeError);
      }
      await expect(store.linkDevice(USER, 'a', devs({ maxDevices: 0 }))).rejects.toThrow(RangeError);
      await expect(store.linkDevice(USER, 'a', devs({ idleMs: 0 }))).rejects.toThrow(RangeError);
      expect(await store.devices(USER)).toEqual([]);
    }));
  });
}
