/**
 * The GroupStore contract (services/common/src/groups/types.ts, docs/delivery.md "Named groups"), run against
 * every backend: memory (unit tier) and Redis (integration tier).
 */
import { describe, expect, it } from 'vitest';
import type { GroupStore } from '../../services/common/src/groups/types.ts';
import { withFixture, type StoreFixture } from './fixture.ts';

const OWNER = 11;
const ADMIN = 12;
const BOB = 13;
const CAROL = 14;
const NOW = 1_700_000_000_000;
const MAX = 10;
const OK = { ok: true, changed: true };
const UNCHANGED = { ok: true, changed: false };
const refused = (refusal: string) => ({ ok: false, refusal });

export function describeGroupStoreContract(name: string, create: () => Promise<StoreFixture<GroupStore>>): void {
  const withStore = (fn: (f: StoreFixture<GroupStore>) => Promise<void>) => withFixture(create, fn);

  describe(`GroupStore contract: ${name}`, () => {
    it('creates groups with increasing ids, the creator as owner', withStore(async ({ store }) => {
      const a = await store.create('team', OWNER, { open: true, now: NOW });
      const b = await store.create('team', ADMIN, { open: false, now: NOW + 1 });
      expect(a).toEqual({ groupId: a.groupId, name: 'team', owner: OWNER, open: true, createdAt: NOW });
      expect(b.groupId).toBeGreaterThan(a.groupId);
      expect(await store.get(a.groupId)).toEqual(a);
      expect(await store.get(b.groupId + 100)).toBeUndefined();
      expect(await store.members(a.groupId)).toEqual([{ userId: OWNER, role: 'owner' }]);
      expect(await store.members(b.groupId + 100)).toBeUndefined();
      expect(await store.role(a.groupId, OWNER)).toBe('owner');
      expect(await store.role(a.groupId, BOB)).toBeUndefined();
    }));

    it('lets anyone join an open group, nobody a closed one; joining twice changes nothing', withStore(async ({ store }) => {
      const open = await store.create('open', OWNER, { open: true, now: NOW });
      const closed = await store.create('closed', OWNER, { open: false, now: NOW });
      expect(await store.join(open.groupId, BOB, MAX)).toEqual(OK);
      expect(await store.join(open.groupId, BOB, MAX)).toEqual(UNCHANGED);
      expect(await store.join(closed.groupId, BOB, MAX)).toEqual(refused('forbidden'));
      expect(await store.join(closed.groupId + 100, BOB, MAX)).toEqual(refused('unknown-group'));
      expect(await store.members(open.groupId)).toEqual([{ userId: OWNER, role: 'owner' }, { userId: BOB, role: 'member' }]);
      expect(await store.members(closed.groupId)).toEqual([{ userId: OWNER, role: 'owner' }]);
    }));

    it('invites by admins and the owner only, into closed groups too', withStore(async ({ store }) => {
      const g = await store.create('closed', OWNER, { open: false, now: NOW });
      expect(await store.invite(g.groupId, BOB, CAROL, MAX)).toEqual(refused('not-member'));
      expect(await store.invite(g.groupId, OWNER, BOB, MAX)).toEqual(OK);
      expect(await store.invite(g.groupId, BOB, CAROL, MAX)).toEqual(refused('forbidden'));
      expect(await store.setRole(g.groupId, OWNER, BOB, 'admin')).toEqual(OK);
      expect(await store.invite(g.groupId, BOB, CAROL, MAX)).toEqual(OK);
      expect(await store.invite(g.groupId, BOB, CAROL, MAX)).toEqual(UNCHANGED);
      expect(await store.members(g.groupId)).toEqual([{ userId: OWNER, role: 'owner' }, { userId: BOB, role: 'admin' }, { userId: CAROL, role: 'member' }]);
    }));

    it('bounds the members of a group', withStore(async ({ store }) => {
      const g = await store.create('small', OWNER, { open: true, now: NOW });
      expect(await store.join(g.groupId, BOB, 2)).toEqual(OK);
      expect(await store.join(g.groupId, CAROL, 2)).toEqual(refused('full'));
      expect(await store.invite(g.groupId, OWNER, CAROL, 2)).toEqual(refused('full'));
      expect(await store.leave(g.groupId, BOB)).toEqual(OK);
      expect(await store.join(g.groupId, CAROL, 2)).toEqual(OK);
    }));

    it('leaves and removes; the owner is never removed and cannot leave; only the owner removes an admin', withStore(async ({ store }) => {
      const g = await store.create('g', OWNER, { open: true, now: NOW });
      for (const u of [ADMIN, BOB, CAROL]) await store.join(g.groupId, u, MAX);
      await store.setRole(g.groupId, OWNER, ADMIN, 'admin');
      expect(await store.leave(g.groupId, OWNER)).toEqual(refused('forbidden'));
      expect(await store.remove(g.groupId, ADMIN, OWNER)).toEqual(refused('forbidden'));
      expect(await store.remove(g.groupId, BOB, CAROL)).toEqual(refused('forbidden'));
      expect(await store.remove(g.groupId, ADMIN, CAROL)).toEqual(OK);
      expect(await store.remove(g.groupId, ADMIN, CAROL)).toEqual(UNCHANGED);
      expect(await store.remove(g.groupId, 99, BOB)).toEqual(refused('not-member'));
      await store.setRole(g.groupId, OWNER, BOB, 'admin');
      expect(await store.remove(g.groupId, BOB, ADMIN)).toEqual(refused('forbidden'));
      expect(await store.remove(g.groupId, OWNER, ADMIN)).toEqual(OK);
      expect(await store.leave(g.groupId, BOB)).toEqual(OK);
      expect(await store.leave(g.groupId, BOB)).toEqual(UNCHANGED);
      expect(await store.leave(g.groupId + 100, BOB)).toEqual(refused('unknown-group'));
      expect(await store.members(g.groupId)).toEqual([{ userId: OWNER, role: 'owner' }]);
    }));

    it('changes roles by the owner only, never the owner\'s', withStore(async ({ store }) => {
      const g = await store.create('g', OWNER, { open: true, now: NOW });
      await store.join(g.groupId, BOB, MAX);
      await store.join(g.groupId, CAROL, MAX);
      expect(await store.setRole(g.groupId, BOB, CAROL, 'admin')).toEqual(refused('forbidden'));
      expect(await store.setRole(g.groupId, OWNER, BOB, 'admin')).toEqual(OK);
      expect(await store.setRole(g.groupId, BOB, CAROL, 'admin')).toEqual(refused('forbidden'));
      expect(await store.setRole(g.groupId, OWNER, BOB, 'admin')).toEqual(UNCHANGED);
      expect(await store.setRole(g.groupId, OWNER, OWNER, 'member')).toEqual(refused('forbidden'));
      expect(await store.setRole(g.groupId, OWNER, 99, 'admin')).toEqual(refused('not-member'));
      expect(await store.setRole(g.groupId, OWNER, BOB, 'member')).toEqual(OK);
      expect(await store.role(g.groupId, BOB)).toBe('member');
    }));

    it('renames by admins and the owner only', withStore(async ({ store }) => {
      const g = await store.create('old', OWNER, { open: true, now: NOW });
      await store.join(g.groupId, BOB, MAX);
      expect(await store.rename(g.groupId, BOB, 'mine now')).toEqual(refused('forbidden'));
      expect(await store.rename(g.groupId, CAROL, 'mine now')).toEqual(refused('not-member'));
      expect(await store.rename(g.groupId + 100, OWNER, 'x')).toEqual(refused('unknown-group'));
      expect(await store.rename(g.groupId, OWNER, 'new name')).toEqual(OK);
      expect((await store.get(g.groupId))?.name).toBe('new name');
    }));

    it('lists a user\'s groups with the role in each, following joins and leaves', withStore(async ({ store }) => {
      const a = await store.create('a', OWNER, { open: true, now: NOW });
      const b = await store.create('b', BOB, { open: true, now: NOW });
      const c = await store.create('c', CAROL, { open: true, now: NOW });
      await store.join(a.groupId, BOB, MAX);
      await store.join(c.groupId, BOB, MAX);
      await store.setRole(c.groupId, CAROL, BOB, 'admin');
      expect((await store.mine(BOB)).map((g) => [g.groupId, g.name, g.role])).toEqual([[a.groupId, 'a', 'member'], [b.groupId, 'b', 'owner'], [c.groupId, 'c', 'admin']]);
      await store.leave(a.groupId, BOB);
      await store.remove(c.groupId, CAROL, BOB);
      expect((await store.mine(BOB)).map((g) => g.groupId)).toEqual([b.groupId]);
      expect(await store.mine(99)).toEqual([]);
    }));

    it('sequences a group\'s messages 1, 2, 3…, a retried id keeping its gseq, groups apart', withStore(async ({ store }) => {
      const a = await store.create('a', OWNER, { open: true, now: NOW });
      const b = await store.create('b', OWNER, { open: true, now: NOW });
      expect(await store.sequence(a.groupId, '11:m1', 100)).toEqual({ gseq: 1, duplicate: false });
      expect(await store.sequence(a.groupId, '12:m1', 100)).toEqual({ gseq: 2, duplicate: false });
      expect(await store.sequence(a.groupId, '11:m1', 100)).toEqual({ gseq: 1, duplicate: true });
      expect(await store.sequence(b.groupId, '11:m1', 100)).toEqual({ gseq: 1, duplicate: false });
      const many = await Promise.all(Array.from({ length: 50 }, (_, i) => store.sequence(a.groupId, `13:c${i}`, 100)));
      expect(many.map((s) => s.gseq).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 3));
      // Beyond maxIds the oldest ids are forgotten: a very late retry gets a new gseq.
      for (let i = 0; i < 3; i++) await store.sequence(b.groupId, `14:n${i}`, 2);
      expect((await store.sequence(b.groupId, '11:m1', 2)).duplicate).toBe(false);
    }));

    it('runs exclusive sections of one group one at a time, other groups in parallel', withStore(async ({ store }) => {
      const a = await store.create('a', OWNER, { open: true, now: NOW });
      const b = await store.create('b', OWNER, { open: true, now: NOW });
      let inside = 0;
      let most = 0;
      const log: string[] = [];
      const section = (g: number, tag: string) => store.exclusive(g, async () => {
        if (g === a.groupId) most = Math.max(most, ++inside);
        log.push(`${tag}+`);
        await new Promise((r) => setTimeout(r, 5));
        log.push(`${tag}-`);
        if (g === a.groupId) inside--;
        return tag;
      });
      const results = await Promise.all([...Array.from({ length: 8 }, (_, i) => section(a.groupId, `a${i}`)), section(b.groupId, 'b')]);
      expect(results).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'b']);
      expect(most).toBe(1);
      // A failing section releases the group for the next one.
      await expect(store.exclusive(a.groupId, async () => { throw new Error('boom'); })).rejects.toThrow('boom');
      expect(await store.exclusive(a.groupId, async () => 'after')).toBe('after');
    }));

    it('refuses bad arguments loudly instead of storing them', withStore(async ({ store }) => {
      await expect(store.create('', OWNER, { open: true, now: NOW })).rejects.toThrow(RangeError);
      await expect(store.create(' padded', OWNER, { open: true, now: NOW })).rejects.toThrow(RangeError);
      await expect(store.create('bell\u0007', OWNER, { open: true, now: NOW })).rejects.toThrow(RangeError);
      await expect(store.create('x'.repeat(257), OWNER, { open: true, now: NOW })).rejects.toThrow(RangeError);
      await expect(store.create('ok', 0, { open: true, now: NOW })).rejects.toThrow(RangeError);
      const g = await store.create('ok', OWNER, { open: true, now: NOW });
      await expect(store.rename(g.groupId, OWNER, 'evil\u202e')).rejects.toThrow(RangeError);
      await expect(store.join(g.groupId, -1, MAX)).rejects.toThrow(RangeError);
      await expect(store.join(g.groupId, BOB, 0)).rejects.toThrow(RangeError);
      await expect(store.members(1.5)).rejects.toThrow(RangeError);
      await expect(store.sequence(g.groupId, 'no-sender', 10)).rejects.toThrow(RangeError);
      await expect(store.setRole(g.groupId, OWNER, BOB, 'owner' as 'admin')).rejects.toThrow(RangeError);
      expect(await store.members(g.groupId)).toEqual([{ userId: OWNER, role: 'owner' }]);
      expect((await store.get(g.groupId))?.name).toBe('ok');
    }));
  });
}
