/**
 * GroupStore on Redis (keys.ts: cim:group:*), on an existing client; the client's owner closes it. A group's
 * keys share one hash tag, so each change is one script; the per-user index (`cim:group:mine:{uid}`) lives in
 * the user's slot and is written after the group's script, so it may briefly lag: mine() checks every
 * indexed group against its members hash and repairs the index.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../redis-client.ts';
import { keys } from '../keys.ts';
import { checkGroupName, checkId, checkMax, checkMessageId, parseGroup } from './entry.ts';
import type { Group, GroupChange, GroupMember, GroupMembership, GroupRefusal, GroupRole, GroupSequence, GroupStore } from './types.ts';

// KEYS[1] group hash, KEYS[2] members hash. ARGV[1] op, ARGV[2] by, ARGV[3] target, ARGV[4] max members / role / name.
// Returns {status, changed}: status 'ok' or a refusal. The rules are the memory backend's, in the same order.
const CHANGE_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown-group', 0} end
local op = ARGV[1]
local target = redis.call('HGET', KEYS[2], ARGV[3])
if op == 'join' then
  if target then return {'ok', 0} end
  if redis.call('HGET', KEYS[1], 'open') ~= '1' then return {'forbidden', 0} end
  if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[4]) then return {'full', 0} end
  redis.call('HSET', KEYS[2], ARGV[3], 'member')
  return {'ok', 1}
end
if op == 'leave' then
  if not target then return {'ok', 0} end
  if target == 'owner' then return {'forbidden', 0} end
  redis.call('HDEL', KEYS[2], ARGV[3])
  return {'ok', 1}
end
local by = redis.call('HGET', KEYS[2], ARGV[2])
if not by then return {'not-member', 0} end
if by == 'member' then return {'forbidden', 0} end
if op == 'rename' then
  redis.call('HSET', KEYS[1], 'name', ARGV[4])
  return {'ok', 1}
end
if op == 'invite' then
  if target then return {'ok', 0} end
  if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[4]) then return {'full', 0} end
  redis.call('HSET', KEYS[2], ARGV[3], 'member')
  return {'ok', 1}
end
if op == 'remove' then
  if not target then return {'ok', 0} end
  if target == 'owner' or (target == 'admin' and by ~= 'owner') then return {'forbidden', 0} end
  redis.call('HDEL', KEYS[2], ARGV[3])
  return {'ok', 1}
end
if op == 'role' then
  if by ~= 'owner' then return {'forbidden', 0} end
  if not target then return {'not-member', 0} end
  if target == 'owner' then return {'forbidden', 0} end
  if target == ARGV[4] then return {'ok', 0} end
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
  return {'ok', 1}
end
return redis.error_reply('unknown op')
`;

// KEYS[1] seq counter, KEYS[2] id index. ARGV[1] id, ARGV[2] ids kept. Returns {gseq, duplicate}.
const SEQUENCE_LUA = `
local known = redis.call('ZSCORE', KEYS[2], ARGV[1])
if known then return {tonumber(known), 1} end
local seq = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
local n = redis.call('ZCARD', KEYS[2])
local max = tonumber(ARGV[2])
if n > max then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, n - max - 1) end
return {seq, 0}
`;

const UNLOCK_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

type GroupRedis = RedisClient & {
  cimGroupChange(group: string, members: string, op: string, by: string, target: string, arg: string): Promise<[string, number]>;
  cimGroupSequence(seq: string, ids: string, id: string, max: string): Promise<[number, number]>;
  cimGroupUnlock(lock: string, token: string): Promise<number>;
};

export interface RedisGroupStoreOptions {
  /** how long a fan-out may hold the group's lock before another process may take it */
  readonly lockTtlMs?: number;
  /** how long exclusive() waits for the lock before failing (the send is then retryable) */
  readonly lockWaitMs?: number;
}

const ROLES: ReadonlySet<string> = new Set(['owner', 'admin', 'member']);
const asRole = (s: string | null | undefined): GroupRole | undefined => (s && ROLES.has(s) ? (s as GroupRole) : undefined);

export class RedisGroupStore implements GroupStore {
  readonly #redis: GroupRedis;
  readonly #lockTtlMs: number;
  readonly #lockWaitMs: number;

  constructor(redis: RedisClient, options: RedisGroupStoreOptions = {}) {
    redis.defineCommand('cimGroupChange', { numberOfKeys: 2, lua: CHANGE_LUA });
    redis.defineCommand('cimGroupSequence', { numberOfKeys: 2, lua: SEQUENCE_LUA });
    redis.defineCommand('cimGroupUnlock', { numberOfKeys: 1, lua: UNLOCK_LUA });
    this.#redis = redis as GroupRedis;
    this.#lockTtlMs = options.lockTtlMs ?? 15_000;
    this.#lockWaitMs = options.lockWaitMs ?? 5_000;
  }

  async create(name: string, owner: number, options: { open: boolean; now: number }): Promise<Group> {
    checkGroupName(name);
    checkId('owner', owner);
    const groupId = await this.#redis.incr(keys.groupLastId);
    const group: Group = { groupId, name, owner, open: options.open === true, createdAt: options.now };
    await this.#redis.multi()
      .hset(keys.group(groupId), 'name', name, 'owner', String(owner), 'open', group.open ? '1' : '0', 'createdAt', String(group.createdAt))
      .hset(keys.groupMembers(groupId), String(owner), 'owner')
      .exec();
    await this.#redis.sadd(keys.userGroups(owner), String(groupId));
    return group;
  }

  async get(groupId: number): Promise<Group | undefined> {
    checkId('groupId', groupId);
    return parseGroup(groupId, await this.#redis.hgetall(keys.group(groupId)));
  }

  async #change(groupId: number, op: string, by: number, target: number, arg: string): Promise<GroupChange> {
    checkId('groupId', groupId);
    const [status, changed] = await this.#redis.cimGroupChange(keys.group(groupId), keys.groupMembers(groupId), op, String(by), String(target), arg);
    if (status !== 'ok') return { ok: false, refusal: status as GroupRefusal };
    // The user's index follows the members hash; written even when unchanged, which repairs a lost write.
    if (op === 'join' || op === 'invite') await this.#redis.sadd(keys.userGroups(target), String(groupId));
    if (op === 'leave' || op === 'remove') await this.#redis.srem(keys.userGroups(target), String(groupId));
    return { ok: true, changed: changed === 1 };
  }

  async rename(groupId: number, by: number, name: string): Promise<GroupChange> {
    checkGroupName(name);
    checkId('userId', by);
    return this.#change(groupId, 'rename', by, by, name);
  }

  async join(groupId: number, userId: number, maxMembers: number): Promise<GroupChange> {
    checkId('userId', userId);
    checkMax(maxMembers);
    return this.#change(groupId, 'join', userId, userId, String(maxMembers));
  }

  async invite(groupId: number, by: number, userId: number, maxMembers: number): Promise<GroupChange> {
    checkId('userId', by);
    checkId('userId', userId);
    checkMax(maxMembers);
    return this.#change(groupId, 'invite', by, userId, String(maxMembers));
  }

  async leave(groupId: number, userId: number): Promise<GroupChange> {
    checkId('userId', userId);
    return this.#change(groupId, 'leave', userId, userId, '');
  }

  async remove(groupId: number, by: number, userId: number): Promise<GroupChange> {
    checkId('userId', by);
    checkId('userId', userId);
    return this.#change(groupId, 'remove', by, userId, '');
  }

  async setRole(groupId: number, by: number, userId: number, role: 'admin' | 'member'): Promise<GroupChange> {
    checkId('userId', by);
    checkId('userId', userId);
    if (role !== 'admin' && role !== 'member') throw new RangeError(`groups: bad role ${String(role)}`);
    return this.#change(groupId, 'role', by, userId, role);
  }

  async role(groupId: number, userId: number): Promise<GroupRole | undefined> {
    checkId('groupId', groupId);
    checkId('userId', userId);
    return asRole(await this.#redis.hget(keys.groupMembers(groupId), String(userId)));
  }

  async members(groupId: number): Promise<GroupMember[] | undefined> {
    checkId('groupId', groupId);
    const [[, exists], [, all]] = (await this.#redis.multi().exists(keys.group(groupId)).hgetall(keys.groupMembers(groupId)).exec()) as [[unknown, number], [unknown, Record<string, string>]];
    if (exists === 0) return undefined;
    const out: GroupMember[] = [];
    for (const [uid, r] of Object.entries(all)) {
      const role = asRole(r);
      const userId = Number(uid);
      if (role && Number.isSafeInteger(userId) && userId > 0) out.push({ userId, role });
    }
    return out.sort((a, b) => a.userId - b.userId);
  }

  async mine(userId: number): Promise<GroupMembership[]> {
    checkId('userId', userId);
    const ids = (await this.#redis.smembers(keys.userGroups(userId))).map(Number).filter((n) => Number.isSafeInteger(n) && n > 0);
    const found = await Promise.all(ids.map(async (groupId) => {
      const [group, role] = await Promise.all([this.get(groupId), this.role(groupId, userId)]);
      return { groupId, group, role };
    }));
    const out: GroupMembership[] = [];
    const stale: string[] = [];
    for (const { groupId, group, role } of found) {
      if (group && role) out.push({ ...group, role });
      else stale.push(String(groupId));
    }
    if (stale.length > 0) await this.#redis.srem(keys.userGroups(userId), ...stale);
    return out.sort((a, b) => a.groupId - b.groupId);
  }

  async sequence(groupId: number, id: string, maxIds: number): Promise<GroupSequence> {
    checkId('groupId', groupId);
    checkMessageId(id);
    checkMax(maxIds);
    const [gseq, duplicate] = await this.#redis.cimGroupSequence(keys.groupSeq(groupId), keys.groupIds(groupId), id, String(maxIds));
    return { gseq, duplicate: duplicate === 1 };
  }

  /**
   * A lease in Redis (SET NX PX), polled with a short jittered wait; released only by its holder. A holder
   * slower than the lease loses the guarantee of order (logged by nobody: keep fan-outs well under lockTtlMs).
   */
  async exclusive<T>(groupId: number, fn: () => Promise<T>): Promise<T> {
    checkId('groupId', groupId);
    const key = keys.groupLock(groupId);
    const token = randomUUID();
    const deadline = Date.now() + this.#lockWaitMs;
    for (let wait = 2; ; wait = Math.min(50, wait * 2)) {
      if ((await this.#redis.set(key, token, 'PX', this.#lockTtlMs, 'NX')) === 'OK') break;
      if (Date.now() >= deadline) throw new Error(`groups: group ${groupId} stayed locked for ${this.#lockWaitMs} ms`);
      await new Promise((r) => setTimeout(r, wait / 2 + Math.random() * wait));
    }
    try {
      return await fn();
    } finally {
      await this.#redis.cimGroupUnlock(key, token).catch(() => undefined);
    }
  }
}
