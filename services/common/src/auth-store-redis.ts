/** AuthStore on Redis, shared by every route and server. Keys are prefixed `cim-auth-` and all expire; each step touches one key. */
import { isCluster, type RedisClient } from './redis-client.ts';
import type { AuthStore, RefreshRecord } from './auth-store.ts';

const K = {
  fail: (key: string) => `cim-auth-fail:${key}`,
  jti: (jti: string) => `cim-auth-revoked-jti:${jti}`,
  sid: (sid: string) => `cim-auth-revoked-sid:${sid}`,
  user: (userId: number) => `cim-auth-revoked-user:${userId}`,
  refresh: (hash: string) => `cim-auth-refresh:${hash}`,
};

// KEYS[1] counter; ARGV[1] window ms. The window starts at the first failure (PX set only then).
const COUNT_LUA = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`;
// KEYS[1] user revocation; ARGV[1] time ms, ARGV[2] ttl ms. Keeps the later of two revocations.
const REVOKE_USER_LUA = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local at = tonumber(ARGV[1])
if cur > at then at = cur end
redis.call('SET', KEYS[1], string.format('%d', at), 'PX', ARGV[2])
return at
`;

type AuthRedis = RedisClient & {
  cimAuthCount(key: string, windowMs: string): Promise<number>;
  cimAuthRevokeUser(key: string, atMs: string, ttlMs: string): Promise<number>;
};

export class RedisAuthStore implements AuthStore {
  readonly #redis: AuthRedis;

  /** Shares `client` (the route store's connection); closing it is left to its owner. */
  constructor(client: RedisClient) {
    const redis = client as AuthRedis;
    redis.defineCommand('cimAuthCount', { numberOfKeys: 1, lua: COUNT_LUA });
    redis.defineCommand('cimAuthRevokeUser', { numberOfKeys: 1, lua: REVOKE_USER_LUA });
    this.#redis = redis;
  }

  countFailure(key: string, windowMs: number): Promise<number> {
    return this.#redis.cimAuthCount(K.fail(key), String(Math.max(1, Math.ceil(windowMs))));
  }

  async failures(key: string): Promise<number> {
    return Number((await this.#redis.get(K.fail(key))) ?? 0);
  }

  async clearFailures(key: string): Promise<void> {
    await this.#redis.del(K.fail(key));
  }

  async revokeToken(jti: string, ttlMs: number): Promise<void> {
    await this.#redis.set(K.jti(jti), '1', 'PX', Math.max(1, Math.ceil(ttlMs)));
  }

  async revokeSession(sid: string, ttlMs: number): Promise<void> {
    await this.#redis.set(K.sid(sid), '1', 'PX', Math.max(1, Math.ceil(ttlMs)));
  }

  async revokeUser(userId: number, atMs: number, ttlMs: number): Promise<void> {
    await this.#redis.cimAuthRevokeUser(K.user(userId), String(Math.floor(atMs)), String(Math.max(1, Math.ceil(ttlMs))));
  }

  async isRevoked(t: { jti?: string; sid: string; userId: number; issuedAtMs: number }): Promise<boolean> {
    const wanted = [t.jti !== undefined ? K.jti(t.jti) : K.jti(''), K.sid(t.sid), K.user(t.userId)];
    // MGET needs one slot on a Redis Cluster: there, three GETs (pipelined per node by the client).
    const [jti, sid, before] = isCluster(this.#redis) ? await Promise.all(wanted.map((k) => this.#redis.get(k))) : await this.#redis.mget(wanted);
    if ((t.jti !== undefined && jti !== null) || sid !== null) return true;
    return before !== null && before !== undefined && t.issuedAtMs < Number(before);
  }

  async saveRefresh(tokenHash: string, record: RefreshRecord, ttlMs: number): Promise<void> {
    await this.#redis.set(K.refresh(tokenHash), JSON.stringify(record), 'PX', Math.max(1, Math.ceil(ttlMs)));
  }

  async takeRefresh(tokenHash: string): Promise<RefreshRecord | undefined> {
    const raw = await this.#redis.getdel(K.refresh(tokenHash));
    if (raw === null) return undefined;
    try {
      const r = JSON.parse(raw) as Partial<RefreshRecord>;
      if (typeof r.userId !== 'number' || typeof r.sid !== 'string' || typeof r.issuedAtMs !== 'number') return undefined;
      return { userId: r.userId, sid: r.sid, issuedAtMs: r.issuedAtMs };
    } catch {
      return undefined;
    }
  }
}
