/**
 * ContactStore on Redis (keys.ts: cim:contacts:*, cim:presence:*), on an existing client; the client's owner
 * closes it. A list and its owner's setting share the owner's slot; the reverse index lives in the contact's
 * slot and is written after the list, so it may briefly hold a stale entry: watchers() checks each against the
 * list and repairs it. The presence journal is two hashes in one slot, changed by scripts.
 */
import type { RedisClient } from '../redis-client.ts';
import { keys } from '../keys.ts';
import { checkServer, checkUserId, type ContactAdd, type ContactSettings, type ContactStore } from './types.ts';

// KEYS[1] the owner's list. ARGV[1] contact, ARGV[2] max.
const ADD_LUA = `
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 'exists' end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 'full' end
redis.call('SADD', KEYS[1], ARGV[1])
return 'added'
`;

// KEYS[1] users hash, KEYS[2] servers hash. ARGV[1] userId, ARGV[2] server. 1 when announced nowhere before.
const ONLINE_LUA = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old == ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if old then
  if redis.call('HINCRBY', KEYS[2], old, -1) <= 0 then redis.call('HDEL', KEYS[2], old) end
end
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
if old then return 0 end
return 1
`;

// Same keys and arguments. 1 when this call removed an announcement naming the server.
const OFFLINE_LUA = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HINCRBY', KEYS[2], ARGV[2], -1) <= 0 then redis.call('HDEL', KEYS[2], ARGV[2]) end
return 1
`;

type ContactRedis = RedisClient & {
  cimContactAdd(list: string, contact: string, max: string): Promise<ContactAdd>;
  cimPresenceOnline(users: string, servers: string, userId: string, server: string): Promise<number>;
  cimPresenceOffline(users: string, servers: string, userId: string, server: string): Promise<number>;
};

const ids = (members: readonly string[]) => members.map(Number).filter((n) => Number.isSafeInteger(n) && n > 0).sort((a, b) => a - b);

export class RedisContactStore implements ContactStore {
  readonly #redis: ContactRedis;

  constructor(redis: RedisClient) {
    redis.defineCommand('cimContactAdd', { numberOfKeys: 1, lua: ADD_LUA });
    redis.defineCommand('cimPresenceOnline', { numberOfKeys: 2, lua: ONLINE_LUA });
    redis.defineCommand('cimPresenceOffline', { numberOfKeys: 2, lua: OFFLINE_LUA });
    this.#redis = redis as ContactRedis;
  }

  async add(owner: number, contact: number, max: number): Promise<ContactAdd> {
    checkUserId('owner', owner);
    checkUserId('contact', contact);
    if (owner === contact) throw new RangeError('contacts: nobody is their own contact');
    const result = await this.#redis.cimContactAdd(keys.contacts(owner), String(contact), String(max));
    // Written even when it exists: repairs a reverse entry lost between the two writes.
    if (result !== 'full') await this.#redis.sadd(keys.contactWatchers(contact), String(owner));
    return result;
  }

  async remove(owner: number, contact: number): Promise<boolean> {
    checkUserId('owner', owner);
    checkUserId('contact', contact);
    const removed = await this.#redis.srem(keys.contacts(owner), String(contact));
    await this.#redis.srem(keys.contactWatchers(contact), String(owner));
    return removed === 1;
  }

  async list(owner: number): Promise<number[]> {
    checkUserId('owner', owner);
    return ids(await this.#redis.smembers(keys.contacts(owner)));
  }

  async watchers(userId: number): Promise<number[]> {
    checkUserId('userId', userId);
    const candidates = ids(await this.#redis.smembers(keys.contactWatchers(userId)));
    const held = await Promise.all(candidates.map((w) => this.#redis.sismember(keys.contacts(w), String(userId))));
    const stale = candidates.filter((_, i) => held[i] !== 1);
    if (stale.length > 0) await this.#redis.srem(keys.contactWatchers(userId), ...stale.map(String));
    return candidates.filter((_, i) => held[i] === 1);
  }

  async settings(owner: number): Promise<ContactSettings> {
    checkUserId('owner', owner);
    return { onlyContacts: (await this.#redis.get(keys.contactsOnly(owner))) === '1' };
  }

  async setSettings(owner: number, settings: ContactSettings): Promise<void> {
    checkUserId('owner', owner);
    if (settings.onlyContacts === true) await this.#redis.set(keys.contactsOnly(owner), '1');
    else await this.#redis.del(keys.contactsOnly(owner));
  }

  async allows(receiver: number, sender: number): Promise<boolean> {
    checkUserId('receiver', receiver);
    checkUserId('sender', sender);
    // On every private message: one GET when the setting is off (the usual case), the membership only when it is on.
    if ((await this.#redis.get(keys.contactsOnly(receiver))) !== '1') return true;
    return (await this.#redis.sismember(keys.contacts(receiver), String(sender))) === 1;
  }

  async announceOnline(userId: number, server: string): Promise<boolean> {
    checkUserId('userId', userId);
    checkServer(server);
    return (await this.#redis.cimPresenceOnline(keys.presenceAnnounced, keys.presenceServers, String(userId), server)) === 1;
  }

  async announceOffline(userId: number, server: string): Promise<boolean> {
    checkUserId('userId', userId);
    checkServer(server);
    return (await this.#redis.cimPresenceOffline(keys.presenceAnnounced, keys.presenceServers, String(userId), server)) === 1;
  }

  async announcedServers(): Promise<string[]> {
    return (await this.#redis.hkeys(keys.presenceServers)).sort();
  }

  /** A scan of every announcement: runs only for a server that died (the crash sweep). */
  async announcedOn(server: string): Promise<number[]> {
    checkServer(server);
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, flat] = await this.#redis.hscan(keys.presenceAnnounced, cursor, 'COUNT', 1000);
      for (let i = 0; i + 1 < flat.length; i += 2) if (flat[i + 1] === server) out.push(flat[i]!);
      cursor = next;
    } while (cursor !== '0');
    return ids(out);
  }
}
