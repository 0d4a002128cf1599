/**
 * The route store's multi-key steps on a Redis Cluster (docs/decisions.md "Redis Cluster and Sentinel").
 * CIM's key names (login-status, cim-route:<uid>, cim-account:<id>, cim-account-names, cim-account-last-id)
 * hash to different slots and stay as they are (one Redis keeps reading CIM's data), so the one-Redis scripts,
 * which touch several of them, become single-slot steps here. Each script touches only its KEYS, all in one slot.
 * Ordering rule: the key that decides (a route, a name claim) is written by one atomic step; the keys it points
 * to are written before it, the indexes that point at it after it and repaired on read.
 */
import { keys } from '../keys.ts';
import type { RedisClient } from '../redis-client.ts';
import type { Account } from './types.ts';

// KEYS[1] last-id counter. The next id: max(now in ms, last + 1), as the one-Redis REGISTER_LUA hands out.
const ALLOC_ID_LUA = `
local t = redis.call('TIME')
local id = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if id <= last then id = last + 1 end
local sid = string.format('%d', id)
redis.call('SET', KEYS[1], sid)
return sid
`;

// KEYS[1] route; ARGV[1] server, ARGV[2] ttl ms, ARGV[3] server that may be taken over ('' = none).
// '' when this server now holds the route, else the server holding it.
const ROUTE_LOGIN_LUA = `
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[3] then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ''
`;

// KEYS[1] route; ARGV[1] expected server ('' = any). 1 deleted, 0 there was none, -1 held by another server.
const ROUTE_LOGOUT_LUA = `
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if ARGV[1] ~= '' and current ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1])
return 1
`;

// KEYS[1] route; ARGV[1] server, ARGV[2] ttl ms. 0 extended, 1 re-created (it had expired), 2 held by another server.
const ROUTE_REFRESH_LUA = `
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 0
end
if current then return 2 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

export const ROUTE_CLUSTER_SCRIPTS = {
  cimAllocId: { numberOfKeys: 1, lua: ALLOC_ID_LUA },
  cimRouteLogin: { numberOfKeys: 1, lua: ROUTE_LOGIN_LUA },
  cimRouteLogout: { numberOfKeys: 1, lua: ROUTE_LOGOUT_LUA },
  cimRouteRefresh: { numberOfKeys: 1, lua: ROUTE_REFRESH_LUA },
} as const;

export interface ClusterRouteCommands {
  cimAllocId(lastId: string): Promise<string>;
  cimRouteLogin(route: string, server: string, ttlMs: string, takeOver: string): Promise<string>;
  cimRouteLogout(route: string, server: string): Promise<number>;
  cimRouteRefresh(route: string, server: string, ttlMs: string): Promise<number>;
}

/**
 * Registration in four single-slot steps. The name claim (HSETNX on the names hash) is the commit point:
 * 1. a name already claimed answers with its id (idempotent by name);
 * 2. a fresh id from the counter (atomic, so ids stay unique and increasing);
 * 3. the credential (when any), then the account key, at that id: written before the claim, so whoever finds
 *    the name finds the account and its credential;
 * 4. HSETNX. Losing it (a concurrent registration of the same name claimed it after step 1) deletes what step 3
 *    wrote at the id nobody was given, and answers with the winner's account and credential.
 * A crash between 3 and 4 leaves an account key at an id no name points to and nobody was told: harmless, and
 * a retry registers afresh. CIM's bare name keys are not adopted here (CIM ran on one Redis): `cim migrate` moves
 * such accounts into the names hash before a cluster serves them.
 */
export async function registerOnCluster(
  redis: RedisClient & ClusterRouteCommands,
  userName: string,
  credential: string | undefined,
  credentialKey: (userId: number | string) => string,
): Promise<{ account: Account; credential: string | undefined; created: boolean }> {
  const existing = await redis.hget(keys.accountNames, userName);
  if (existing !== null) return answer(redis, userName, existing, false, credentialKey);
  const id = await redis.cimAllocId(keys.lastAccountId);
  if (credential !== undefined) await redis.set(credentialKey(id), credential);
  await redis.set(keys.account(id), userName);
  if ((await redis.hsetnx(keys.accountNames, userName, id)) === 1) return { account: { userId: Number(id), userName }, credential, created: true };
  await Promise.all([redis.del(keys.account(id)), redis.del(credentialKey(id))]);
  const winner = await redis.hget(keys.accountNames, userName);
  if (winner === null) throw new Error('route store: a claimed account name vanished'); // names are never removed
  return answer(redis, userName, winner, false, credentialKey);
}

async function answer(redis: RedisClient, userName: string, id: string, created: boolean, credentialKey: (userId: string) => string) {
  const stored = await redis.get(credentialKey(id));
  return { account: { userId: Number(id), userName }, credential: stored ?? undefined, created };
}
