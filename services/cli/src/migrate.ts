/**
 * `cim migrate --from-cim [--dry-run] --redis-url URL`: takes over the data a CIM deployment left in Redis
 * (reference §6, §9.3), for a cluster that now runs on that Redis.
 *
 * - Accounts (`cim-account:{id}` = name, and CIM's bare `{name}` = "cim-account:{id}") are counted and,
 *   unless --dry-run, put into our name index so users keep their ids (the route would also adopt each one
 *   at its first registerAccount: route-store/redis.ts).
 * - Offline messages (`offline:msg:user:{uid}` list of ids, `offline:msg:{id}` JSON, or a hash in v2.1.0)
 *   are counted and, unless --dry-run, appended to the receiver's inbox (idempotent by sender + "cim-{id}",
 *   so a re-run after a crash stores nothing twice) and only then removed from CIM's keys. The server pushes
 *   them at the user's next login, like any pending private message. Delivered (status 1) ones are removed.
 * Our inbox keys are `cim:inbox:*` (keys.ts): nothing of ours ever reads `offline:msg:*`.
 */
import { keys } from '../../common/src/keys.ts';
import { createRedisClient, scanTargets, type RedisClient } from '../../common/src/redis-client.ts';
import { RedisInboxStore } from '../../common/src/inbox/redis.ts';
import type { InboxLimits, InboxMessage } from '../../common/src/inbox/types.ts';
import { parseCommandLine } from '../../common/src/options.ts';

export const migrateOptionSpecs = {
  fromCim: { type: 'boolean', default: false, description: 'migrate from a CIM deployment\'s Redis (the only source there is)' },
  dryRun: { type: 'boolean', default: false, description: 'only report what was found; change nothing' },
  redisUrl: { type: 'string', optional: true, description: 'the Redis CIM used, e.g. redis://127.0.0.1:6379 (the cluster\'s Redis; redis-cluster:// and redis-sentinel:// URLs as on cim route)' },
  inboxMax: { type: 'int', default: 1000, min: 1, max: 1_000_000, description: 'inbox bound per user, as the route\'s --inbox-max' },
  inboxTtl: { type: 'int', default: 259_200, min: 1, description: 'inbox TTL in seconds, as the route\'s --inbox-ttl' },
} as const;

export interface MigrationReport {
  /** CIM accounts found: cim-account:{id} = name whose bare {name} key = "cim-account:{id}" (ours have no such key). */
  accounts: number;
  /** … of which were not in our name index yet (adopted unless dry run). */
  accountsNew: number;
  /** Users with a CIM offline list. */
  offlineUsers: number;
  /** Ids in those lists. */
  offlineMessages: number;
  /** Appended to inboxes (0 in a dry run). */
  converted: number;
  /** Already delivered (v2.1.0 status 1) or whose message key expired: removed, not converted. */
  skipped: number;
  /** Could not be read (no sender, no text, bad JSON): left in place and reported. */
  unreadable: number;
}

interface CimOfflineMsg {
  readonly text: string;
  readonly sendUserId: number;
  readonly sendUserName: string;
  readonly sentAt: number;
  readonly delivered: boolean;
}

const SCAN_COUNT = 500;

export async function migrateFromCim(redis: RedisClient, options: { dryRun: boolean; limits: InboxLimits }): Promise<MigrationReport> {
  const report: MigrationReport = { accounts: 0, accountsNew: 0, offlineUsers: 0, offlineMessages: 0, converted: 0, skipped: 0, unreadable: 0 };
  // SCAN is per node: on a Redis Cluster every master is scanned (redis-client.ts scanTargets).
  for (const node of scanTargets(redis)) for await (const batch of node.scanStream({ match: 'cim-account:*', type: 'string', count: SCAN_COUNT }) as AsyncIterable<string[]>) {
    for (const key of batch) {
      const id = /^cim-account:(\d{1,16})$/.exec(key)?.[1];
      const name = id === undefined ? null : await redis.get(key);
      if (id === undefined || name === null || name === '') continue;
      // Ours write cim-account:{id} too; CIM's also have the bare name key pointing back.
      if ((await redis.type(name)) !== 'string' || (await redis.get(name)) !== key) continue;
      report.accounts++;
      if ((await redis.hget(keys.accountNames, name)) !== null) continue;
      report.accountsNew++;
      if (options.dryRun) continue;
      await redis.hsetnx(keys.accountNames, name, id);
      const last = Number((await redis.get(keys.lastAccountId)) ?? '0');
      if (Number(id) > last) await redis.set(keys.lastAccountId, id);
    }
  }
  const inbox = new RedisInboxStore(redis);
  for (const node of scanTargets(redis)) for await (const batch of node.scanStream({ match: 'offline:msg:user:*', type: 'list', count: SCAN_COUNT }) as AsyncIterable<string[]>) {
    for (const listKey of batch) {
      const uid = Number(/^offline:msg:user:(\d{1,16})$/.exec(listKey)?.[1] ?? NaN);
      if (!Number.isSafeInteger(uid) || uid <= 0) continue;
      const ids = await redis.lrange(listKey, 0, -1);
      report.offlineUsers++;
      report.offlineMessages += ids.length;
      if (options.dryRun) continue;
      for (const id of ids) {
        const msgKey = `offline:msg:${id}`;
        const msg = await readCimOfflineMsg(redis, msgKey);
        if (msg === 'unreadable') {
          report.unreadable++;
          continue;
        }
        if (msg !== undefined && !msg.delivered) {
          const message: InboxMessage = { msgId: `cim-${id}`, from: { userId: msg.sendUserId, userName: msg.sendUserName }, text: msg.text, sentAt: msg.sentAt, chatType: 'private' };
          await inbox.append(uid, message, options.limits);
          report.converted++;
        } else {
          report.skipped++;
        }
        // Stored first, removed second: a crash in between leaves a copy that a re-run appends as a duplicate (no-op).
        await redis.del(msgKey);
        await redis.lrem(listKey, 0, id);
      }
    }
  }
  return report;
}

/** One CIM offline message: HEAD's JSON string (maybe a JSON string literal around it) or v2.1.0's hash. */
async function readCimOfflineMsg(redis: RedisClient, key: string): Promise<CimOfflineMsg | undefined | 'unreadable'> {
  const type = await redis.type(key);
  let raw: Record<string, unknown>;
  if (type === 'none') return undefined;
  if (type === 'hash') {
    raw = await redis.hgetall(key);
  } else if (type === 'string') {
    try {
      let parsed: unknown = JSON.parse((await redis.get(key)) ?? '');
      if (typeof parsed === 'string') parsed = JSON.parse(parsed);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'unreadable';
      raw = parsed as Record<string, unknown>;
    } catch {
      return 'unreadable';
    }
  } else {
    return 'unreadable';
  }
  let props = raw['properties'];
  if (typeof props === 'string') {
    try {
      props = JSON.parse(props);
    } catch {
      return 'unreadable';
    }
  }
  const p = (typeof props === 'object' && props !== null ? props : {}) as Record<string, unknown>;
  const sendUserId = Number(p['sendUserId']);
  const text = raw['content'];
  if (!Number.isSafeInteger(sendUserId) || sendUserId <= 0 || typeof text !== 'string' || text === '') return 'unreadable';
  return {
    text,
    sendUserId,
    sendUserName: typeof p['sendUserName'] === 'string' ? p['sendUserName'] : '',
    sentAt: parseCreatedAt(raw['createdAt']),
    delivered: String(raw['status'] ?? '0') === '1',
  };
}

/** Jackson writes LocalDateTime as an ISO string without zone (read as UTC) or as [y, m, d, h, min, s, ns]. */
function parseCreatedAt(value: unknown): number {
  if (typeof value === 'string') {
    const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
    if (Number.isFinite(t)) return t;
  }
  if (Array.isArray(value) && value.length >= 3 && value.every((n) => typeof n === 'number')) {
    const [y, mo, d, h = 0, mi = 0, s = 0] = value as number[];
    return Date.UTC(y!, mo! - 1, d!, h, mi, s);
  }
  return Date.now();
}

export function formatReport(r: MigrationReport, dryRun: boolean): string {
  return [
    `${dryRun ? 'dry run: nothing changed' : 'migrated'} from CIM's Redis keys:`,
    `  accounts: ${r.accounts} found, ${r.accountsNew} not yet in the name index${dryRun ? '' : ' (added; users keep their ids)'}`,
    `  offline messages: ${r.offlineMessages} for ${r.offlineUsers} users${dryRun ? '' : `; ${r.converted} moved to inboxes (arrive at next login), ${r.skipped} already delivered or expired (removed), ${r.unreadable} unreadable (left in place)`}`,
  ].join('\n');
}

/** @param argv the arguments after `cim migrate`. Exit codes: 0 done, 1 Redis failed, 2 bad options. */
export async function main(argv: string[], env: NodeJS.ProcessEnv, io: { stdout: { write(s: string): unknown }; stderr: { write(s: string): unknown } } = process): Promise<number> {
  const help = { command: 'cim migrate', summary: "Takes over a CIM deployment's Redis data: accounts keep their ids, offline messages move to inboxes." };
  const parsed = parseCommandLine(migrateOptionSpecs, argv, env, help, io);
  if (!parsed.ok) return parsed.exitCode;
  const o = parsed.options;
  if (!o.fromCim || o.redisUrl === undefined) {
    io.stderr.write('cim migrate: --from-cim and --redis-url are required (CIM is the only source)\nTry "cim migrate --help".\n');
    return 2;
  }
  let redis: RedisClient;
  try {
    redis = createRedisClient(o.redisUrl, { redis: { lazyConnect: true, enableAutoPipelining: false, maxRetriesPerRequest: 2, retryStrategy: () => null } });
  } catch (err) {
    io.stderr.write(`cim migrate: ${(err as Error).message}\n`);
    return 2;
  }
  try {
    await redis.connect();
    const report = await migrateFromCim(redis, { dryRun: o.dryRun, limits: { maxEntries: o.inboxMax, ttlMs: o.inboxTtl * 1000 } });
    io.stdout.write(`${formatReport(report, o.dryRun)}\n`);
    return 0;
  } catch (err) {
    io.stderr.write(`cim migrate: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}
