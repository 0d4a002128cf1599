/** GroupStore in memory: one process (`cim up` without Redis, unit tests); the same contract as Redis. */
import { checkGroupName, checkId, checkMax, checkMessageId } from './entry.ts';
import type { Group, GroupChange, GroupMember, GroupMembership, GroupRefusal, GroupRole, GroupSequence, GroupStore } from './types.ts';

interface Stored {
  group: Group;
  members: Map<number, GroupRole>;
  seq: number;
  /** id -> gseq, insertion-ordered so the oldest go first */
  ids: Map<string, number>;
  /** the tail of the exclusive() chain */
  tail: Promise<unknown>;
}

const OK: GroupChange = Object.freeze({ ok: true, changed: true });
const UNCHANGED: GroupChange = Object.freeze({ ok: true, changed: false });
const refuse = (refusal: GroupRefusal): GroupChange => ({ ok: false, refusal });

export class MemoryGroupStore implements GroupStore {
  readonly #groups = new Map<number, Stored>();
  #lastId = 0;

  async create(name: string, owner: number, options: { open: boolean; now: number }): Promise<Group> {
    checkGroupName(name);
    checkId('owner', owner);
    const group: Group = { groupId: ++this.#lastId, name, owner, open: options.open === true, createdAt: options.now };
    this.#groups.set(group.groupId, { group, members: new Map([[owner, 'owner']]), seq: 0, ids: new Map(), tail: Promise.resolve() });
    return group;
  }

  async get(groupId: number): Promise<Group | undefined> {
    checkId('groupId', groupId);
    return this.#groups.get(groupId)?.group;
  }

  /** The group and the role of `by`, or why not: the checks every admin operation shares. */
  #asAdmin(groupId: number, by: number): Stored | GroupRefusal {
    checkId('groupId', groupId);
    checkId('userId', by);
    const g = this.#groups.get(groupId);
    if (!g) return 'unknown-group';
    const role = g.members.get(by);
    if (role === undefined) return 'not-member';
    return role === 'member' ? 'forbidden' : g;
  }

  async rename(groupId: number, by: number, name: string): Promise<GroupChange> {
    checkGroupName(name);
    const g = this.#asAdmin(groupId, by);
    if (typeof g === 'string') return refuse(g);
    g.group = { ...g.group, name };
    return OK;
  }

  async join(groupId: number, userId: number, maxMembers: number): Promise<GroupChange> {
    checkId('groupId', groupId);
    checkId('userId', userId);
    checkMax(maxMembers);
    const g = this.#groups.get(groupId);
    if (!g) return refuse('unknown-group');
    if (g.members.has(userId)) return UNCHANGED;
    if (!g.group.open) return refuse('forbidden');
    if (g.members.size >= maxMembers) return refuse('full');
    g.members.set(userId, 'member');
    return OK;
  }

  async invite(groupId: number, by: number, userId: number, maxMembers: number): Promise<GroupChange> {
    checkId('userId', userId);
    checkMax(maxMembers);
    const g = this.#asAdmin(groupId, by);
    if (typeof g === 'string') return refuse(g);
    if (g.members.has(userId)) return UNCHANGED;
    if (g.members.size >= maxMembers) return refuse('full');
    g.members.set(userId, 'member');
    return OK;
  }

  async leave(groupId: number, userId: number): Promise<GroupChange> {
    checkId('groupId', groupId);
    checkId('userId', userId);
    const g = this.#groups.get(groupId);
    if (!g) return refuse('unknown-group');
    const role = g.members.get(userId);
    if (role === undefined) return UNCHANGED;
    if (role === 'owner') return refuse('forbidden');
    g.members.delete(userId);
    return OK;
  }

  async remove(groupId: number, by: number, userId: number): Promise<GroupChange> {
    checkId('userId', userId);
    const g = this.#asAdmin(groupId, by);
    if (typeof g === 'string') return refuse(g);
    const target = g.members.get(userId);
    if (target === undefined) return UNCHANGED;
    if (target === 'owner' || (target === 'admin' && g.members.get(by) !== 'owner')) return refuse('forbidden');
    g.members.delete(userId);
    return OK;
  }

  async setRole(groupId: number, by: number, userId: number, role: 'admin' | 'member'): Promise<GroupChange> {
    checkId('userId', userId);
    if (role !== 'admin' && role !== 'member') throw new RangeError(`groups: bad role ${String(role)}`);
    const g = this.#asAdmin(groupId, by);
    if (typeof g === 'string') return refuse(g);
    if (g.members.get(by) !== 'owner') return refuse('forbidden');
    const target = g.members.get(userId);
    if (target === undefined) return refuse('not-member');
    if (target === 'owner') return refuse('forbidden');
    if (target === role) return UNCHANGED;
    g.members.set(userId, role);
    return OK;
  }

  async role(groupId: number, userId: number): Promise<GroupRole | undefined> {
    checkId('groupId', groupId);
    checkId('userId', userId);
    return this.#groups.get(groupId)?.members.get(userId);
  }

  async members(groupId: number): Promise<GroupMember[] | undefined> {
    checkId('groupId', groupId);
    const g = this.#groups.get(groupId);
    if (!g) return undefined;
    return [...g.members].map(([userId, role]) => ({ userId, role })).sort((a, b) => a.userId - b.userId);
  }

  async mine(userId: number): Promise<GroupMembership[]> {
    checkId('userId', userId);
    const out: GroupMembership[] = [];
    for (const g of this.#groups.values()) {
      const role = g.members.get(userId);
      if (role !== undefined) out.push({ ...g.group, role });
    }
    return out.sort((a, b) => a.groupId - b.groupId);
  }

  async sequence(groupId: number, id: string, maxIds: number): Promise<GroupSequence> {
    checkId('groupId', groupId);
    checkMessageId(id);
    checkMax(maxIds);
    const g = this.#groups.get(groupId);
    if (!g) throw new RangeError(`groups: no group ${groupId}`);
    const known = g.ids.get(id);
    if (known !== undefined) return { gseq: known, duplicate: true };
    const gseq = ++g.seq;
    g.ids.set(id, gseq);
    while (g.ids.size > maxIds) g.ids.delete(g.ids.keys().next().value!);
    return { gseq, duplicate: false };
  }

  async exclusive<T>(groupId: number, fn: () => Promise<T>): Promise<T> {
    checkId('groupId', groupId);
    const g = this.#groups.get(groupId);
    if (!g) return fn(); // nothing to order: callers check the group first
    const run = g.tail.then(() => fn());
    g.tail = run.catch(() => undefined);
    return run;
  }
}
