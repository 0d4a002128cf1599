import { keys } from '../keys.ts';
import { createRedisClient, isCluster, type RedisClient, type RedisClientOptions } from '../redis-client.ts';
import { ROUTE_CLUSTER_SCRIPTS, type ClusterRouteCommands, registerOnCluster } from './redis-cluster-steps.ts';
import type { Account, LoginResult, RefreshResult, RouteStore } from './types.ts';

// Migration from CIM (reference §6): an account CIM registered is the bare key {userName} = "cim-account:{id}"
// plus cim-account:{id} = userName. A name our hash does not know is looked up there (only when that key is a
// string of that form and the id key agrees, so a user called "login-status" reads nothing) and adopted into
// the hash, so existing users keep their ids; the id counter moves past it. Args: name hash, last-id key,
// CIM's name key, userName, account key prefix. docs/client.md "Migrating from CIM".
const ADOPT_CIM_LUA = `
local function adoptCim(names, lastIdKey, cimNameKey, userName, accountPrefix)
  if redis.call('TYPE', cimNameKey)['ok'] ~= 'string' then return nil end
  local id = string.match(redis.call('GET', cimNameKey), '^cim%-account:(%d+)$')
  if not id or redis.call('GET', accountPrefix .. id) ~= userName then return nil end
  redis.call('HSET', names, userName, id)
  if tonumber(id) > tonumber(redis.call('GET', lastIdKey) or '0') then redis.call('SET', lastIdKey, id) end
  return id
end
`;

// KEYS[1] names hash, KEYS[2] last-id counter, KEYS[3] CIM's name key; ARGV[1] userName, ARGV[2] account key prefix.
// Idempotent by name; the id is max(now in ms, last id + 1), so ids stay unique and close to CIM's
// millisecond ids (which collided when two users registered in the same millisecond).
const REGISTER_LUA = `${ADOPT_CIM_LUA}
local existing = redis.call('HGET', KEYS[1], ARGV[1]) or adoptCim(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2])
if existing then return existing end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local id = now
if id <= last then id = last + 1 end
local sid = string.format('%d', id)
redis.call('SET', KEYS[2], sid)
redis.call('HSET', KEYS[1], ARGV[1], sid)
redis.call('SET', ARGV[2] .. sid, ARGV[1])
return sid
`;

// As REGISTER_LUA, plus the credential: KEYS[3] credential key prefix, KEYS[4] CIM's name key, ARGV[3] credential.
// Returns {id, stored credential or false, 1 when created}.
const REGISTER_CREDENTIAL_LUA = `${ADOPT_CIM_LUA}
local existing = redis.call('HGET', KEYS[1], ARGV[1]) or adoptCim(KEYS[1], KEYS[2], KEYS[4], ARGV[1], ARGV[2])
if existing then return {existing, redis.call('GET', KEYS[3] .. existing), 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local id = now
if id <= last then id = last + 1 end
local sid = string.format('%d', id)
redis.call('SET', KEYS[2], sid)
redis.call('HSET', KEYS[1], ARGV[1], sid)
redis.call('SET', ARGV[2] .. sid, ARGV[1])
redis.call('SET', KEYS[3] .. sid, ARGV[3])
return {sid, ARGV[3], 1}
`;

// KEYS[1] account key, KEYS[2] credential key; ARGV[1] credential. Only for an existing account.
const SET_CREDENTIAL_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
return 1
`;

/** Password hashes (auth-password.ts), one key per account, next to CIM's cim-account:{id}. */
const credentialKey = (userId: number | string) => `cim-account-credential:${userId}`;

// KEYS[1] route key, KEYS[2] login-status; ARGV[1] userId, ARGV[2] server, ARGV[3] ttl ms, ARGV[4] server that may be taken over ('' = none).
// Returns '' on success, else the server currently holding the user.
const LOGIN_LUA = `
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[4] then return current end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
return ''
`;

// KEYS[1] route key, KEYS[2] login-status; ARGV[1] userId, ARGV[2] expected server ('' = any).
const LOGOUT_LUA = `
local current = redis.call('GET', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
if not current then return 0 end
if ARGV[2] ~= '' and current ~= ARGV[2] then
  redis.call('SADD', KEYS[2], ARGV[1])
  return 0
end
redis.call('DEL', KEYS[1])
return 1
`;

// KEYS[1] login-status, KEYS[2..n] route keys; ARGV[1] server, ARGV[2] ttl ms, ARGV[3..n] userIds (same order).
// Extends routes that name this server, re-creates expired ones, and returns the userIds now routed elsewhere.
const REFRESH_LUA = `
local moved = {}
for i = 2, #KEYS do
  local current = redis.call('GET', KEYS[i])
  if current == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
  elseif not current then
    redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
    redis.call('SADD', KEYS[1], ARGV[i + 1])
  else
    moved[#moved + 1] = ARGV[i + 1]
  end
end
return moved
`;

type CimRedis = RedisClient & ClusterRouteCommands & {
  cimRegister(names: string, lastId: string, cimNameKey: string, userName: string, accountPrefix: string): Promise<string>;
  cimRegisterCredential(names: string, lastId: string, credentialPrefix: string, cimNameKey: string, userName: string, accountPrefix: string, credential: string): Promise<[string, string | null, number]>;
  cimSetCredential(account: string, credential: string, value: string): Promise<number>;
  cimLogin(route: string, status: string, userId: string, server: string, ttlMs: string, takeOver: string): Promise<string>;
  cimLogout(route: string, status: string, userId: string, server: string): Promise<number>;
  cimRefresh(numKeys: number, ...args: string[]): Promise<string[]>;
};

const REFRESH_CHUNK = 500;

/**
 * Accounts and presence (RouteStore) on Redis, with CIM's key names (keys.ts); on one Redis each multi-key step
 * is one Lua script. CIM's keys hash to different Redis Cluster slots, so on a cluster the same steps run as
 * single-slot steps in an order that keeps them correct (redis-cluster-steps.ts). Built from a URL it owns its
 * connection (close() quits it); built from an existing client it shares that connection (with RedisInboxStore)
 * and leaves closing to its owner.
 */
export class RedisRouteStore implements RouteStore {
  readonly #redis: CimRedis;
  readonly #ownsClient: boolean;
  readonly #cluster: boolean;

  /** @throws RangeError on a URL redis-client.ts refuses */
  constructor(urlOrClient: string | RedisClient, options: RedisClientOptions = {}) {
    this.#ownsClient = typeof urlOrClient === 'string';
    const redis = (typeof urlOrClient === 'string' ? createRedisClient(urlOrClient, options) : urlOrClient) as CimRedis;
    this.#cluster = isCluster(redis);
    for (const [name, def] of Object.entries(ROUTE_CLUSTER_SCRIPTS)) redis.defineCommand(name, def);
    redis.defineCommand('cimRegister', { numberOfKeys: 3, lua: REGISTER_LUA });
    redis.defineCommand('cimRegisterCredential', { numberOfKeys: 4, lua: REGISTER_CREDENTIAL_LUA });
    redis.defineCommand('cimSetCredential', { numberOfKeys: 2, lua: SET_CREDENTIAL_LUA });
    redis.defineCommand('cimLogin', { numberOfKeys: 2, lua: LOGIN_LUA });
    redis.defineCommand('cimLogout', { numberOfKeys: 2, lua: LOGOUT_LUA });
    redis.defineCommand('cimRefresh', { lua: REFRESH_LUA });
    this.#redis = redis;
  }

  /** The underlying client, for readiness events, logging and the inbox (RedisInboxStore) on the same connection. */
  get client(): RedisClient {
    return this.#redis;
  }

  async registerAccount(userName: string): Promise<Account> {
    if (this.#cluster) return (await registerOnCluster(this.#redis, userName, undefined, credentialKey)).account;
    const id = await this.#redis.cimRegister(keys.accountNames, keys.lastAccountId, userName, userName, keys.account(''));
    return { userId: Number(id), userName };
  }

  async registerWithCredential(userName: string, credential: string): Promise<{ account: Account; credential: string | undefined; created: boolean }> {
    if (this.#cluster) return registerOnCluster(this.#redis, userName, credential, credentialKey);
    const [id, stored, created] = await this.#redis.cimRegisterCredential(keys.accountNames, keys.lastAccountId, credentialKey(''), userName, userName, keys.account(''), credential);
    return { account: { userId: Number(id), userName }, credential: stored ?? undefined, created: created === 1 };
  }

  async getCredential(userId: number): Promise<string | undefined> {
    return (await this.#redis.get(credentialKey(userId))) ?? undefined;
  }

  async setCredential(userId: number, credential: string): Promise<boolean> {
    if (this.#cluster) {
      // Two slots: accounts are never deleted, so an account that exists at the check still exists at the write.
      if ((await this.#redis.exists(keys.account(userId))) === 0) return false;
      await this.#redis.set(credentialKey(userId), credential);
      return true;
    }
    return (await this.#redis.cimSetCredential(keys.account(userId), credentialKey(userId), credential)) === 1;
  }

  async getAccount(userId: number): Promise<Account | undefined> {
    const userName = await this.#redis.get(keys.account(userId));
    return userName === null ? undefined : { userId, userName };
  }

  async getAccounts(userIds: readonly number[]): Promise<Account[]> {
    if (userIds.length === 0) return [];
    const names = await this.#getMany(userIds.map((id) => keys.account(id)));
    const out: Account[] = [];
    userIds.forEach((userId, i) => {
      const userName = names[i];
      if (userName !== null && userName !== undefined) out.push({ userId, userName });
    });
    return out;
  }

  async login(userId: number, server: string, ttlMs: number, takeOverFrom = ''): Promise<LoginResult> {
    if (this.#cluster) {
      // The route is the truth, written first; the index after it (a member without a route is repaired on read).
      const current = await this.#redis.cimRouteLogin(keys.route(userId), server, String(Math.ceil(ttlMs)), takeOverFrom);
      if (current !== '') return { ok: false, currentServer: current };
      await this.#redis.sadd(keys.loginStatus, String(userId));
      return { ok: true };
    }
    const current = await this.#redis.cimLogin(keys.route(userId), keys.loginStatus, String(userId), server, String(Math.ceil(ttlMs)), takeOverFrom);
    return current === '' ? { ok: true } : { ok: false, currentServer: current };
  }

  async logout(userId: number, server = ''): Promise<boolean> {
    if (this.#cluster) {
      const deleted = await this.#redis.cimRouteLogout(keys.route(userId), server);
      if (deleted === -1) return false; // routed to another server: its index entry stays
      await this.#redis.srem(keys.loginStatus, String(userId));
      // A login that got in between our two steps keeps its index entry (else the next refresh restores it).
      if ((await this.#redis.exists(keys.route(userId))) === 1) await this.#redis.sadd(keys.loginStatus, String(userId));
      return deleted === 1;
    }
    return (await this.#redis.cimLogout(keys.route(userId), keys.loginStatus, String(userId), server)) === 1;
  }

  async getRoute(userId: number): Promise<string | undefined> {
    return (await this.#redis.get(keys.route(userId))) ?? undefined;
  }

  async refreshPresence(server: string, userIds: readonly number[], ttlMs: number): Promise<RefreshResult> {
    const movedElsewhere: number[] = [];
    for (let i = 0; i < userIds.length; i += REFRESH_CHUNK) {
      const chunk = userIds.slice(i, i + REFRESH_CHUNK);
      if (this.#cluster) {
        // One script per route (each its own slot), pipelined per node; then the index, in its own slot, gets
        // every user still here, which also heals an entry a login lost between its two steps.
        const states = await Promise.all(chunk.map((id) => this.#redis.cimRouteRefresh(keys.route(id), server, String(Math.ceil(ttlMs)))));
        const here = chunk.filter((_, j) => states[j] !== 2);
        movedElsewhere.push(...chunk.filter((_, j) => states[j] === 2));
        if (here.length > 0) await this.#redis.sadd(keys.loginStatus, ...here.map(String));
        continue;
      }
      const moved = await this.#redis.cimRefresh(
        chunk.length + 1,
        keys.loginStatus,
        ...chunk.map((id) => keys.route(id)),
        server,
        String(Math.ceil(ttlMs)),
        ...chunk.map(String),
      );
      movedElsewhere.push(...moved.map(Number));
    }
    return { movedElsewhere };
  }

  async onlineUsers(): Promise<Account[]> {
    const members = (await this.#redis.smembers(keys.loginStatus)).filter((m) => /^\d+$/.test(m));
    if (members.length === 0) return [];
    const routes = await this.#getMany(members.map((m) => keys.route(m)));
    const online: number[] = [];
    const stale: string[] = [];
    members.forEach((m, i) => (routes[i] ? online.push(Number(m)) : stale.push(m)));
    // The set is an index; a member whose route expired (crashed server) is repaired here.
    if (stale.length > 0) await this.#redis.srem(keys.loginStatus, ...stale);
    return this.getAccounts(online);
  }

  /** MGET on one Redis; on a cluster one GET per key (MGET needs one slot), pipelined per node. */
  #getMany(keyList: readonly string[]): Promise<(string | null)[]> {
    if (this.#cluster) return Promise.all(keyList.map((k) => this.#redis.get(k)));
    return this.#redis.mget(...keyList);
  }

  isReady(): boolean {
    return this.#redis.status === 'ready';
  }

  async close(): Promise<void> {
    if (!this.#ownsClient || this.#redis.status === 'end') return;
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }
}
