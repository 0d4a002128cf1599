/**
 * HistoryStore on Redis (keys.ts: cim:history:*), on an existing client; the client's owner closes it.
 * One conversation's keys share a hash tag, so the append script runs on a Redis Cluster too.
 */
import type { RedisClient } from '../redis-client.ts';
import { keys } from '../keys.ts';
import { checkConversation, checkHistoryLimits, checkHistoryPage, historyIdKey, normalizeHistoryMessage, parseHistoryEntry } from './entry.ts';
import type { HistoryAppendResult, HistoryEntry, HistoryLimits, HistoryMessage, HistoryStore } from './types.ts';

// KEYS[1] entries (sorted set by seq), KEYS[2] seq counter, KEYS[3] id index (sorted set id -> seq).
// ARGV[1] id, ARGV[2] the entry as JSON without its seq, ARGV[3] max entries, ARGV[4] ttl ms.
// Returns {seq, duplicate}. The counter never expires, so a conversation's seqs never repeat.
const APPEND_LUA = `
local known = redis.call('ZSCORE', KEYS[3], ARGV[1])
if known then return {tonumber(known), 1} end
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], seq, '{"seq":' .. string.format('%d', seq) .. ',' .. string.sub(ARGV[2], 2))
redis.call('ZADD', KEYS[3], seq, ARGV[1])
local max = tonumber(ARGV[3])
local n = redis.call('ZCARD', KEYS[1])
if n > max then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - max - 1) end
local ids = redis.call('ZCARD', KEYS[3])
if ids > 2 * max then redis.call('ZREMRANGEBYRANK', KEYS[3], 0, ids - 2 * max - 1) end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return {seq, 0}
`;

type HistoryRedis = RedisClient & {
  cimHistoryAppend(entries: string, seq: string, ids: string, id: string, body: string, max: string, ttlMs: string): Promise<[number, number]>;
};

export class RedisHistoryStore implements HistoryStore {
  readonly #redis: HistoryRedis;

  constructor(redis: RedisClient) {
    redis.defineCommand('cimHistoryAppend', { numberOfKeys: 3, lua: APPEND_LUA });
    this.#redis = redis as HistoryRedis;
  }

  async append(conversation: string, message: HistoryMessage, limits: HistoryLimits): Promise<HistoryAppendResult> {
    checkConversation(conversation);
    checkHistoryLimits(limits);
    const m = normalizeHistoryMessage(message);
    const [seq, duplicate] = await this.#redis.cimHistoryAppend(
      keys.history(conversation),
      keys.historySeq(conversation),
      keys.historyIds(conversation),
      historyIdKey(m),
      JSON.stringify(m),
      String(limits.maxEntries),
      String(limits.ttlMs),
    );
    return { seq, duplicate: duplicate === 1 };
  }

  async page(conversation: string, beforeSeq: number | undefined, limit: number): Promise<HistoryEntry[]> {
    checkConversation(conversation);
    checkHistoryPage(beforeSeq, limit);
    const max = beforeSeq === undefined ? '+inf' : `(${beforeSeq}`;
    const newestFirst = await this.#redis.zrevrangebyscore(keys.history(conversation), max, '-inf', 'LIMIT', 0, limit);
    const entries: HistoryEntry[] = [];
    for (const json of newestFirst.reverse()) {
      const e = parseHistoryEntry(json);
      if (e) entries.push(e);
    }
    return entries;
  }
}
