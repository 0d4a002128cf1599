import type { Redis } from 'ioredis';
import { keys } from '../keys.ts';
import { checkLimits, checkPage, checkUserId, distinctSeqs, idempotencyKey, normalizeMessage, parseEntry } from './entry.ts';
import type { AppendResult, InboxEntry, InboxLimits, InboxMessage, InboxStore } from './types.ts';

// Append, atomically. KEYS[1] inbox (sorted set), KEYS[2] seq counter, KEYS[3] id index (sorted set);
// all three share the user's hash tag, so this runs on a Redis Cluster too.
// ARGV[1] `sender:msgId`, ARGV[2] the entry as JSON without its seq ('{"msgId":...}'), ARGV[3] max
// entries, ARGV[4] ttl ms. Returns {seq, duplicate (0/1), dropped}.
// - A known id is a retried send: nothing is stored, the seq it already has is returned.
// - The seq is spliced in as the first member field, so members are unique and carry their seq.
// - Oldest entries beyond the bound are dropped (lowest scores) and counted; the id index keeps
//   2 x max ids so duplicates are recognised for a while after their entry was acknowledged.
// - Entries and ids expire together ttl after the last stored append; the counter never expires,
//   so a user's seqs never repeat.
const APPEND_LUA = `
local known = redis.call('ZSCORE', KEYS[3], ARGV[1])
if known then return {tonumber(known), 1, 0} end
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], seq, '{"seq":' .. string.format('%d', seq) .. ',' .. string.sub(ARGV[2], 2))
redis.call('ZADD', KEYS[3], seq, ARGV[1])
local max = tonumber(ARGV[3])
local dropped = 0
local n = redis.call('ZCARD', KEYS[1])
if n > max then dropped = redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - max - 1) end
local ids = redis.call('ZCARD', KEYS[3])
if ids > 2 * max then redis.call('ZREMRANGEBYRANK', KEYS[3], 0, ids - 2 * max - 1) end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return {seq, 0, dropped}
`;

// Ack: reads and removes in one step, so of two concurrent acks of one seq only one returns its
// entry. KEYS[1] inbox; ARGV = seqs. Returns the removed members.
const ACK_LUA = `
local removed = {}
for i = 1, #ARGV do
  local found = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[i], ARGV[i])
  if #found > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[i], ARGV[i])
    for _, m in ipairs(found) do removed[#removed + 1] = m end
  end
end
return removed
`;

interface InboxRedis extends Redis {
  cimInboxAppend(inbox: string, seq: string, ids: string, id: string, body: string, max: string, ttlMs: string): Promise<[number, number, number]>;
  cimInboxAck(inbox: string, ...seqs: string[]): Promise<string[]>;
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
    redis.defineCommand('cimInboxAppend', { numberOfKeys: 3, lua: APPEND_LUA });
    redis.defineCommand('cimInboxAck', { numberOfKeys: 1, lua: ACK_LUA });
    this.#redis = redis as InboxRedis;
  }

  async append(userId: number, message: InboxMessage, limits: InboxLimits): Promise<AppendResult> {
    checkUserId(userId);
    checkLimits(limits);
    const m = normalizeMessage(message);
    const [seq, duplicate, dropped] = await this.#redis.cimInboxAppend(
      keys.inbox(userId),
      keys.inboxSeq(userId),
      keys.inboxIds(userId),
      idempotencyKey(m),
      JSON.stringify(m),
      String(limits.maxEntries),
      String(limits.ttlMs),
    );
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
      removed.push(...(await this.#redis.cimInboxAck(keys.inbox(userId), ...wanted.slice(i, i + ACK_CHUNK).map(String))));
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
