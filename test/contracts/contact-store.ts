/**
 * The ContactStore contract (services/common/src/contacts/types.ts, docs/delivery.md "Contacts and presence"),
 * run against every backend: memory (unit tier) and Redis (integration tier).
 */
import { describe, expect, it } from 'vitest';
import type { ContactStore } from '../../services/common/src/contacts/types.ts';
import { withFixture, type StoreFixture } from './fixture.ts';

const ALICE = 21;
const BOB = 22;
const CAROL = 23;
const DAVE = 24;
const S1 = '127.0.0.1:1001:2001';
const S2 = '127.0.0.1:1002:2002';

export function describeContactStoreContract(name: string, create: () => Promise<StoreFixture<ContactStore>>): void {
  const withStore = (fn: (f: StoreFixture<ContactStore>) => Promise<void>) => withFixture(create, fn);

  describe(`ContactStore contract: ${name}`, () => {
    it('adds and removes idempotently, lists ascending, keeps the reverse index', withStore(async ({ store }) => {
      expect(await store.add(ALICE, CAROL, 10)).toBe('added');
      expect(await store.add(ALICE, BOB, 10)).toBe('added');
      expect(await store.add(ALICE, BOB, 10)).toBe('exists');
      expect(await store.add(DAVE, BOB, 10)).toBe('added');
      expect(await store.list(ALICE)).toEqual([BOB, CAROL]);
      expect(await store.list(BOB)).toEqual([]);
      expect(await store.watchers(BOB)).toEqual([ALICE, DAVE]);
      expect(await store.remove(ALICE, BOB)).toBe(true);
      expect(await store.remove(ALICE, BOB)).toBe(false);
      expect(await store.list(ALICE)).toEqual([CAROL]);
      expect(await store.watchers(BOB)).toEqual([DAVE]);
      expect(await store.watchers(CAROL)).toEqual([ALICE]);
    }));

    it('bounds a list and refuses bad ids and oneself', withStore(async ({ store }) => {
      expect(await store.add(ALICE, BOB, 2)).toBe('added');
      expect(await store.add(ALICE, CAROL, 2)).toBe('added');
      expect(await store.add(ALICE, DAVE, 2)).toBe('full');
      expect(await store.add(ALICE, BOB, 2)).toBe('exists');
      expect(await store.list(ALICE)).toEqual([BOB, CAROL]);
      expect(await store.watchers(DAVE)).toEqual([]);
      await expect(store.add(ALICE, ALICE, 2)).rejects.toThrow(RangeError);
      await expect(store.add(0, BOB, 2)).rejects.toThrow(RangeError);
      await expect(store.list(-1)).rejects.toThrow(RangeError);
      await expect(store.watchers(1.5)).rejects.toThrow(RangeError);
    }));

    it('allows everyone unless onlyContacts, then only contacts', withStore(async ({ store }) => {
      expect(await store.settings(ALICE)).toEqual({ onlyContacts: false });
      expect(await store.allows(ALICE, BOB)).toBe(true);
      await store.add(ALICE, BOB, 10);
      await store.setSettings(ALICE, { onlyContacts: true });
      expect(await store.settings(ALICE)).toEqual({ onlyContacts: true });
      expect(await store.allows(ALICE, BOB)).toBe(true);
      expect(await store.allows(ALICE, CAROL)).toBe(false);
      expect(await store.allows(CAROL, ALICE)).toBe(true);
      await store.setSettings(ALICE, { onlyContacts: false });
      expect(await store.allows(ALICE, CAROL)).toBe(true);
    }));

    it('announces online once per user, offline once and only by the server named', withStore(async ({ store }) => {
      expect(await store.announceOnline(BOB, S1)).toBe(true);
      expect(await store.announceOnline(BOB, S1)).toBe(false);
      expect(await store.announceOnline(CAROL, S2)).toBe(true);
      expect(await store.announcedServers()).toEqual([S1, S2].sort());
      expect(await store.announcedOn(S1)).toEqual([BOB]);
      // Bob moves to S2 without going offline: no new online event, S1 can no longer announce him offline.
      expect(await store.announceOnline(BOB, S2)).toBe(false);
      expect(await store.announcedServers()).toEqual([S2]);
      expect(await store.announcedOn(S2)).toEqual([BOB, CAROL]);
      expect(await store.announceOffline(BOB, S1)).toBe(false);
      const racing = await Promise.all([store.announceOffline(BOB, S2), store.announceOffline(BOB, S2), store.announceOffline(BOB, S2)]);
      expect(racing.filter(Boolean)).toHaveLength(1);
      expect(await store.announcedOn(S2)).toEqual([CAROL]);
      expect(await store.announceOffline(CAROL, S2)).toBe(true);
      expect(await store.announcedServers()).toEqual([]);
      expect(await store.announceOnline(BOB, S1)).toBe(true);
    }));
  });
}
