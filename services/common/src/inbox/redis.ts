import type { Redis } from 'ioredis';
import { keys } from '../keys.ts';
import { checkLimits, checkPage, checkUserId, distinctSeqs, idempotencyKey, normalizeMessage, parseEntry, REFUSED_PER_SENDER, senderCap } from './entry.ts';
import type { AppendResult, InboxEntry, InboxLimits, InboxMessage, InboxStore } from './types.ts';

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

// Append, atomically. KEYS[1] inbox (sorted set), KEYS[2] seq counter, KEYS[3] id index (sorted set),
// KEYS[4] senders (hash senderId -> pending count); all four share the user's hash tag, so this runs on
// a Redis Cluster too.
// ARGV[1] `sender:msgId`, ARGV[2] the entry as JSON without its seq ('{"msgId":...}'), ARGV[3] max
// entries, ARGV[4] ttl ms, ARGV[5] sender id, ARGV[6] per-sender cap (0 = none).
// Returns {seq, duplicate (0/1), dropped, refused (0/1)}.
// - A known id is a retried send: nothing is stored, the seq it already has is returned.
// - A sender already holding the cap is refused before a seq is taken: nothing changes.
// - The seq is spliced in as the first member field, so members are unique and carry their seq.
// - Oldest entries beyond the bound are dropped (lowest scores), counted, and released from their
//   senders' counts; the id index keeps 2 x max ids so duplicates are recognised for a while after
//   their entry was acknowledged.
// - Entries, ids and sender counts expire together ttl after the last stored append; the counter never
//   expires, so a user's seqs never repeat.
const APPEND_LUA = `${RELEASE_LUA}
local known = redis.call('ZSCORE', KEYS[3], ARGV[1])
if known then return {tonumber(known), 1, 0, 0} end
local cap = tonumber(ARGV[6])
if cap > 0 and tonumber(redis.call('HGET', KEYS[4], ARGV[5]) or '0') >= cap then return {0, 0, 0, 1} end
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], seq, '{"seq":' .. string.format('%d', seq) .. ',' .. string.sub(ARGV[2], 2))
redis.call('ZADD', KEYS[3], seq, ARGV[1])
redis.call('HINCRBY', KEYS[4], ARGV[5], 1)
local max = tonumber(ARGV[3])
local dropped = 0
local n = redis.call('ZCARD', KEYS[1])
if n > max then
  for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, n - max - 1)) do release(KEYS[4], m) end
  dropped = redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - max - 1)
end
local ids = redis.call('ZCARD', KEYS[3])
if ids > 2 * max then redis.call('ZREMRANGEBYRANK', KEYS[3], 0, ids - 2 * max - 1) end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
redis.call('PEXPIRE', KEYS[4], ARGV[4])
return {seq, 0, dropped, 0}
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

interface InboxRedis extends Redis {
  cimInboxAppend(inbox: string, seq: string, ids: string, senders: string, id: string, body: string, max: string, ttlMs: string, sender: string, cap: string): Promise<[number, number, number, number]>;
  cimInboxAck(inbox: string, senders: string, ...seqs: string[]): Promise<string[]>;
}

/** Seqs per ack script call: keeps one script's run (which blocks Redis) short. */
const ACK_CHUNK = 1000;

/**
 * InboxStore on Redis (keys.ts: cim:inbox:*), on an existing client so every store shares one
 * connection; the client's owner closes it.
 */
export class RedisInboxStore implements InboxStore {
  readonly #redis: InboxRedis;

  constructor(redis: Redis) {
    redis.defineCommand('cimInboxAppend', { numberOfKeys: 4, lua: APPEND_LUA });
    redis.defineCommand('cimInboxAck', { numberOfKeys: 2, lua: ACK_LUA });
    this.#redis = redis as InboxRedis;
  }

  async append(userId: number, message: InboxMessage, limits: InboxLimits): Promise<AppendResult> {
    checkUserId(userId);
    checkLimits(limits);
    const m = normalizeMessage(message);
    const cap = senderCap(limits);
    const [seq, duplicate, dropped, refused] = await this.#redis.cimInboxAppend(
      keys.inbox(userId),
      keys.inboxSeq(userId),
      keys.inboxIds(userId),
      keys.inboxSenders(userId),
      idempotencyKey(m),
      JSON.stringify(m),
      String(limits.maxEntries),
      String(limits.ttlMs),
      String(m.from.userId),
      Number.isFinite(cap) ? String(cap) : '0',
    );
    if (refused === 1) return REFUSED_PER_SENDER;
    return { seq, duplicate: duplicate === 1, dropped };
  }

  async pending(userId: number, afterSeq: number, limit: number): Promise<InboxEntry[]> {
    checkUserId(userId);
    checkPage(afterSeq, limit);
    const members = await this.#redis.zrangebyscore(keys.inbox(userId), `(${afterSeq}`, '+inf', 'LIMIT', 0, limit);
    return parseAll(members);
  }

  async ack(userId: number, seqs: readonly number[]): Promise<InboxEntry[]> {
    checkUserId(userId);
    const wanted = distinctSeqs(seqs);
    const removed: string[] = [];
    for (let i = 0; i < wanted.length; i += ACK_CHUNK) {
      removed.push(...(await this.#redis.cimInboxAck(keys.inbox(userId), keys.inboxSenders(userId), ...wanted.slice(i, i + ACK_CHUNK).map(String))));
    }
    return parseAll(removed);
  }

  async maxSeq(userId: number): Promise<number> {
    checkUserId(userId);
    return Number((await this.#redis.get(keys.inboxSeq(userId))) ?? 0);
  }
}

/** Stored members in seq order; a member that does not parse (written by hand?) is skipped. */
function parseAll(members: readonly string[]): InboxEntry[] {
  return members.flatMap((json) => parseEntry(json) ?? []).sort((a, b) => a.seq - b.seq);
}
