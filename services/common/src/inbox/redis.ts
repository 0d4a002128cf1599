import type { RedisClient } from '../redis-client.ts';
import { keys } from '../keys.ts';
import { appendTargets, linkOptimistically, SNAPSHOT_ATTEMPTS } from './devices.ts';
import { checkDevice, checkLimits, checkPage, checkUserId, distinctSeqs, idempotencyKey, normalizeMessage, parseEntry, REFUSED_NO_DEVICE, REFUSED_PER_SENDER, senderCap } from './entry.ts';
import type { AppendOptions, AppendResult, DeviceInboxStore, DeviceLimits, InboxEntry, InboxLimits, InboxMessage, LinkedDevice, LinkResult } from './types.ts';

// Entries that leave the inbox (ack, overflow) stop counting against their sender in the senders hash.
// The sender id is read from the stored JSON, whose field order entry.ts fixes: seq, msgId (no quotes in
// it), then from.userId, so the first match is the sender's. A count never goes below zero (an inbox
// written before the hash existed just counts low until it drains).
const RELEASE_LUA = `
local function release(senders, member)
  local s = string.match(member, '"from":{"userId":(%d+)')
  if not s then return end
  if redis.call('HINCRBY', senders, s, -1) <= 0 then redis.call('HDEL', senders, s) end
end
`;

// Append, atomically. KEYS[1] seq counter, KEYS[2] id index (sorted set), KEYS[3] linked devices (hash),
// then one pair per target inbox: KEYS[4+2i] inbox (sorted set), KEYS[5+2i] its senders (hash senderId ->
// pending count). Every key carries the user's hash tag, so this runs on a Redis Cluster too.
// ARGV[1] `sender:msgId`, ARGV[2] the entry as JSON without its seq ('{"msgId":...}'), ARGV[3] max
// entries, ARGV[4] ttl ms, ARGV[5] sender id, ARGV[6] per-sender cap (0 = none), ARGV[7] the linked devices
// the caller chose the targets from (sorted, each followed by ';').
// Returns {seq, duplicate (0/1), dropped, refused (0 none, 1 per-sender, 2 no target)} or {-1, devices}
// when the linked devices changed: the caller chooses the targets again.
// - A known id is a retried send: nothing is stored, the seq it already has is returned.
// - A sender already holding the cap in any target is refused before a seq is taken: nothing changes.
// - One seq for every target: the seq is spliced in as the first member field, so members are unique
//   and carry their seq.
// - Oldest entries beyond the bound are dropped (lowest scores), counted, and released from their
//   senders' counts; the id index keeps 2 x max ids so duplicates are recognised for a while after
//   their entry was acknowledged.
// - Entries, ids and sender counts expire together ttl after the last stored append; the counter never
//   expires, so a user's seqs never repeat.
const APPEND_LUA = `${RELEASE_LUA}
local known = redis.call('ZSCORE', KEYS[2], ARGV[1])
if known then return {tonumber(known), 1, 0, 0} end
local linked = redis.call('HKEYS', KEYS[3])
table.sort(linked)
local snapshot = ''
for _, d in ipairs(linked) do snapshot = snapshot .. d .. ';' end
if snapshot ~= ARGV[7] then return {-1, snapshot} end
local targets = (#KEYS - 3) / 2
if targets == 0 then return {0, 0, 0, 2} end
local cap = tonumber(ARGV[6])
if cap > 0 then
  for t = 0, targets - 1 do
    if tonumber(redis.call('HGET', KEYS[5 + 2 * t], ARGV[5]) or '0') >= cap then return {0, 0, 0, 1} end
  end
end
local seq = redis.call('INCR', KEYS[1])
local member = '{"seq":' .. string.format('%d', seq) .. ',' .. string.sub(ARGV[2], 2)
local max = tonumber(ARGV[3])
local dropped = 0
for t = 0, targets - 1 do
  local box, senders = KEYS[4 + 2 * t], KEYS[5 + 2 * t]
  redis.call('ZADD', box, seq, member)
  redis.call('HINCRBY', senders, ARGV[5], 1)
  local n = redis.call('ZCARD', box)
  if n > max then
    for _, m in ipairs(redis.call('ZRANGE', box, 0, n - max - 1)) do release(senders, m) end
    dropped = dropped + redis.call('ZREMRANGEBYRANK', box, 0, n - max - 1)
  end
  redis.call('PEXPIRE', box, ARGV[4])
  redis.call('PEXPIRE', senders, ARGV[4])
end
redis.call('ZADD', KEYS[2], seq, ARGV[1])
local ids = redis.call('ZCARD', KEYS[2])
if ids > 2 * max then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, ids - 2 * max - 1) end
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return {seq, 0, dropped, 0}
`;

// Link a device. KEYS[1] linked devices (hash), KEYS[2] default inbox, KEYS[3] its senders, KEYS[4] the
// device's inbox, KEYS[5] its senders, then one pair (inbox, senders) per device to unlink.
// ARGV[1] the linked devices the plan was made from (as in append), ARGV[2] device, ARGV[3] now, ARGV[4..]
// the devices to unlink. Returns {1} or {-1, devices} when the linked devices changed meanwhile.
// The first device linked inherits the default inbox (RENAME keeps its entries, seqs and TTL).
const LINK_LUA = `
local linked = redis.call('HKEYS', KEYS[1])
table.sort(linked)
local snapshot = ''
for _, d in ipairs(linked) do snapshot = snapshot .. d .. ';' end
if snapshot ~= ARGV[1] then return {-1, snapshot} end
for i = 4, #ARGV do
  redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('DEL', KEYS[6 + 2 * (i - 4)], KEYS[7 + 2 * (i - 4)])
end
if redis.call('HLEN', KEYS[1]) == 0 and ARGV[2] ~= '' then
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('RENAME', KEYS[2], KEYS[4]) end
  if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('RENAME', KEYS[3], KEYS[5]) end
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return {1}
`;

// Ack: reads and removes in one step, so of two concurrent acks of one seq only one returns its
// entry (and releases its sender's count once). KEYS[1] inbox, KEYS[2] senders; ARGV = seqs.
// Returns the removed members.
const ACK_LUA = `${RELEASE_LUA}
local removed = {}
for i = 1, #ARGV do
  local found = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[i], ARGV[i])
  if #found > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[i], ARGV[i])
    for _, m in ipairs(found) do
      release(KEYS[2], m)
      removed[#removed + 1] = m
    end
  end
end
return removed
`;

type InboxRedis = RedisClient & {
  cimInboxAppend(numKeys: number, ...keysAndArgs: string[]): Promise<[number, number | string, number, number]>;
  cimInboxLink(numKeys: number, ...keysAndArgs: string[]): Promise<[number, string?]>;
  cimInboxAck(inbox: string, senders: string, ...seqs: string[]): Promise<string[]>;
};

/** Seqs per ack script call: keeps one script's run (which blocks Redis) short. */
const ACK_CHUNK = 1000;

/**
 * InboxStore on Redis (keys.ts: cim:inbox:*), on an existing client so every store shares one
 * connection; the client's owner closes it.
 */
/** Linked devices remembered per user (the snapshot an append starts from); a wrong guess costs one retry. */
const DEVICE_CACHE_MAX = 100_000;

const encodeSnapshot = (devices: readonly string[]): string => devices.map((d) => `${d};`).join('');
const decodeSnapshot = (snapshot: string): string[] => (snapshot === '' ? [] : snapshot.slice(0, -1).split(';'));

/**
 * InboxStore on Redis (keys.ts: cim:inbox:*), on an existing client so every store shares one
 * connection; the client's owner closes it.
 */
export class RedisInboxStore implements DeviceInboxStore {
  readonly #redis: InboxRedis;
  /** userId -> linked devices, sorted (absent: none assumed, the common case) */
  readonly #linked = new Map<number, string[]>();

  constructor(redis: RedisClient) {
    redis.defineCommand('cimInboxAppend', { lua: APPEND_LUA });
    redis.defineCommand('cimInboxLink', { lua: LINK_LUA });
    redis.defineCommand('cimInboxAck', { numberOfKeys: 2, lua: ACK_LUA });
    this.#redis = redis as InboxRedis;
  }

  #remember(userId: number, devices: string[]): void {
    this.#linked.delete(userId);
    if (devices.length === 0) return;
    if (this.#linked.size >= DEVICE_CACHE_MAX) this.#linked.delete(this.#linked.keys().next().value!);
    this.#linked.set(userId, devices);
  }

  async append(userId: number, message: InboxMessage, limits: InboxLimits, options: AppendOptions = {}): Promise<AppendResult> {
    checkUserId(userId);
    checkLimits(limits);
    if (options.exceptDevice !== undefined) checkDevice(options.exceptDevice);
    const m = normalizeMessage(message);
    const cap = senderCap(limits);
    const args = [idempotencyKey(m), JSON.stringify(m), String(limits.maxEntries), String(limits.ttlMs), String(m.from.userId), Number.isFinite(cap) ? String(cap) : '0'];
    for (let attempt = 0; attempt < SNAPSHOT_ATTEMPTS; attempt++) {
      const linked = this.#linked.get(userId) ?? [];
      const boxes = appendTargets(linked, options.exceptDevice).flatMap((d) => [keys.deviceInbox(userId, d), keys.deviceInboxSenders(userId, d)]);
      const keyList = [keys.inboxSeq(userId), keys.inboxIds(userId), keys.inboxDevices(userId), ...boxes];
      const [seq, second, dropped, refused] = await this.#redis.cimInboxAppend(keyList.length, ...keyList, ...args, encodeSnapshot(linked));
      if (seq === -1) {
        this.#remember(userId, decodeSnapshot(String(second)));
        continue;
      }
      if (refused === 1) return REFUSED_PER_SENDER;
      if (refused === 2) return REFUSED_NO_DEVICE;
      return { seq, duplicate: Number(second) === 1, dropped };
    }
    throw new Error(`inbox: the devices of user ${userId} kept changing during an append`);
  }

  async pending(userId: number, afterSeq: number, limit: number, device = ''): Promise<InboxEntry[]> {
    checkUserId(userId);
    checkPage(afterSeq, limit);
    checkDevice(device);
    const members = await this.#redis.zrangebyscore(keys.deviceInbox(userId, device), `(${afterSeq}`, '+inf', 'LIMIT', 0, limit);
    return parseAll(members);
  }

  async ack(userId: number, seqs: readonly number[], device = ''): Promise<InboxEntry[]> {
    checkUserId(userId);
    checkDevice(device);
    const wanted = distinctSeqs(seqs);
    const removed: string[] = [];
    for (let i = 0; i < wanted.length; i += ACK_CHUNK) {
      removed.push(...(await this.#redis.cimInboxAck(keys.deviceInbox(userId, device), keys.deviceInboxSenders(userId, device), ...wanted.slice(i, i + ACK_CHUNK).map(String))));
    }
    return parseAll(removed);
  }

  async maxSeq(userId: number): Promise<number> {
    checkUserId(userId);
    return Number((await this.#redis.get(keys.inboxSeq(userId))) ?? 0);
  }

  linkDevice(userId: number, device: string, limits: DeviceLimits): Promise<LinkResult> {
    return linkOptimistically(userId, device, limits, () => this.devices(userId), async (linked, evict) => {
      const keyList = [
        keys.inboxDevices(userId),
        keys.deviceInbox(userId, ''),
        keys.deviceInboxSenders(userId, ''),
        keys.deviceInbox(userId, device),
        keys.deviceInboxSenders(userId, device),
        ...evict.flatMap((d) => [keys.deviceInbox(userId, d), keys.deviceInboxSenders(userId, d)]),
      ];
      const snapshot = encodeSnapshot(linked.map((d) => d.device).sort());
      const [done] = await this.#redis.cimInboxLink(keyList.length, ...keyList, snapshot, device, String(limits.now), ...evict);
      if (done !== 1) return false;
      this.#remember(userId, [...new Set([...linked.map((d) => d.device).filter((d) => !evict.includes(d)), device])].sort());
      return true;
    });
  }

  async unlinkDevice(userId: number, device: string): Promise<boolean> {
    checkUserId(userId);
    checkDevice(device);
    const result = await this.#redis.multi().hdel(keys.inboxDevices(userId), device).del(keys.deviceInbox(userId, device), keys.deviceInboxSenders(userId, device)).exec();
    this.#linked.delete(userId);
    return result?.[0]?.[1] === 1;
  }

  async devices(userId: number): Promise<LinkedDevice[]> {
    checkUserId(userId);
    const all = await this.#redis.hgetall(keys.inboxDevices(userId));
    return Object.entries(all).map(([device, lastSeen]) => ({ device, lastSeen: Number(lastSeen) })).sort((a, b) => b.lastSeen - a.lastSeen);
  }
}
/** Stored members in seq order; a member that does not parse (written by hand?) is skipped. */
function parseAll(members: readonly string[]): InboxEntry[] {
  return members.flatMap((json) => parseEntry(json) ?? []).sort((a, b) => a.seq - b.seq);
}
