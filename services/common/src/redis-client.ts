/**
 * The one place a Redis option becomes an ioredis client (docs/decisions.md "Redis Cluster and Sentinel").
 * The kind of Redis is chosen by the URL's scheme, so the single `--redis-url` option (CIM_REDIS_URL, the
 * CimCluster's spec.redis.external.url) keeps working everywhere without a second option that could disagree:
 *
 * - `redis://[user:pass@]host:port[/db]`, `rediss://…`: one Redis (ioredis parses the URL itself);
 * - `redis-cluster://[user:pass@]host:port,host:port,…`: Redis Cluster; the hosts are seeds, the client
 *   learns every master from CLUSTER SLOTS and reads from masters only (a replica may lag behind a write);
 * - `redis-sentinel://[user:pass@]host:port,…/<masterName>`: the master Sentinel names, followed across failovers.
 *
 * The password (URL or `--redis-password`) is the data nodes'; sentinels are asked without one.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { corkPerIteration } from './redis-cork.ts';

/** Every store takes either: ioredis types both as the same commander. */
export type RedisClient = Redis | Cluster;

export interface RedisHost {
  readonly host: string;
  readonly port: number;
}

export type RedisTarget =
  | { readonly mode: 'single'; readonly url: string }
  | { readonly mode: 'cluster'; readonly nodes: readonly RedisHost[]; readonly username?: string; readonly password?: string }
  | { readonly mode: 'sentinel'; readonly sentinels: readonly RedisHost[]; readonly masterName: string; readonly username?: string; readonly password?: string };

const MULTI_HOST = /^(redis-cluster|redis-sentinel):\/\/(?:([^@/]*)@)?([^/?#@]+)(?:\/([^/?#]*))?$/;
const MAX_HOSTS = 64;

/** @throws RangeError naming what is wrong (never echoing a password) */
export function parseRedisTarget(url: string): RedisTarget {
  if (/^rediss?:\/\/./.test(url)) return { mode: 'single', url };
  const m = MULTI_HOST.exec(url);
  if (!m) throw new RangeError('--redis-url: expected redis://, rediss://, redis-cluster://h:p,h:p or redis-sentinel://h:p,h:p/<masterName>');
  const [, scheme, userinfo, hostList, path] = m;
  const cluster = scheme === 'redis-cluster';
  const hosts = hostList!.split(',').map((h) => parseHost(h, cluster ? 6379 : 26379));
  if (hosts.length > MAX_HOSTS) throw new RangeError(`--redis-url: at most ${MAX_HOSTS} hosts`);
  const auth = parseUserinfo(userinfo);
  if (cluster) {
    if (path !== undefined && path !== '') throw new RangeError('--redis-url: a redis-cluster:// URL has no path (a cluster has only database 0)');
    return { mode: 'cluster', nodes: hosts, ...auth };
  }
  const masterName = decode(path ?? '');
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(masterName)) throw new RangeError('--redis-url: redis-sentinel:// needs the master name as its path, e.g. redis-sentinel://s1:26379,s2:26379/mymaster');
  return { mode: 'sentinel', sentinels: hosts, masterName, ...auth };
}

function parseHost(text: string, defaultPort: number): RedisHost {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+))(?::(\d{1,5}))?$/.exec(text);
  const port = m?.[3] === undefined ? defaultPort : Number(m[3]);
  if (!m || port < 1 || port > 65535) throw new RangeError(`--redis-url: bad host "${text}" (host:port, [ipv6]:port)`);
  return { host: m[1] ?? m[2]!, port };
}

function parseUserinfo(userinfo: string | undefined): { username?: string; password?: string } {
  if (userinfo === undefined || userinfo === '') return {};
  const colon = userinfo.indexOf(':');
  const username = decode(colon < 0 ? userinfo : userinfo.slice(0, colon));
  const password = colon < 0 ? undefined : decode(userinfo.slice(colon + 1));
  return { ...(username !== '' ? { username } : {}), ...(password !== undefined && password !== '' ? { password } : {}) };
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new RangeError('--redis-url: bad %-escape');
  }
}

export interface RedisClientOptions {
  /** overrides a password in the URL (--redis-password) */
  readonly password?: string;
  /** extra ioredis options for every connection (tests: retry strategies, lazyConnect) */
  readonly redis?: RedisOptions;
}

/**
 * What a long-running component wants: a failed command retried twice, then an error.
 * No auto-pipelining: it builds a Pipeline object (with a copy of every defined script command), a promise chain
 * and a deferred flush per event-loop turn, and on this workload that cost more than the system calls it saves
 * (docs/benchmarks.md, 2026-12-02 13:50): at 1,000 private msg/s servers 0.34–0.38 instead of 0.45 cores, p99 7–9
 * instead of 12–16 ms; at 5,000/s p99 37–49 instead of 56–58 ms; more logins per route core. Redis does 4–10 %
 * more work per message (more, smaller reads). What auto-pipelining saved, one write per command, is saved by
 * corking each connection per event-loop iteration instead (redis-cork.ts).
 * Connects give up after 3 s (ioredis: 10 s) and are tried again: right after a Redis pod is replaced, a
 * Service may still send a connect to the old pod's address, which drops it, and the real node saw every
 * server's Redis stall 10 s on one such connect (logins timed out meanwhile) while the route's next try worked.
 */
const DEFAULTS: RedisOptions = { enableAutoPipelining: false, maxRetriesPerRequest: 2, connectTimeout: 3000 };

/**
 * The client for `url`, its commands written once per event-loop iteration (redis-cork.ts).
 * @throws RangeError on a URL parseRedisTarget refuses
 */
export function createRedisClient(url: string, options: RedisClientOptions = {}): RedisClient {
  const client = clientFor(url, options);
  corkPerIteration(client);
  return client;
}

function clientFor(url: string, options: RedisClientOptions): RedisClient {
  const target = parseRedisTarget(url);
  const password = options.password !== undefined && options.password !== '' ? { password: options.password } : {};
  if (target.mode === 'single') return new Redis(url, { ...DEFAULTS, ...options.redis, ...password });
  const auth = { ...(target.username !== undefined ? { username: target.username } : {}), ...(target.password !== undefined ? { password: target.password } : {}), ...password };
  if (target.mode === 'sentinel') {
    return new Redis({ ...DEFAULTS, ...options.redis, ...auth, sentinels: target.sentinels.map((s) => ({ ...s })), name: target.masterName });
  }
  // The cluster client owns reconnects and the offline queue; of the per-connection options, these are its own.
  const { enableAutoPipelining: _pipelining, retryStrategy, lazyConnect, enableOfflineQueue: _queue, readOnly: _readOnly, ...perNode } = { ...DEFAULTS, ...options.redis };
  return new Cluster(target.nodes.map((n) => ({ ...n })), {
    enableAutoPipelining: false, // as DEFAULTS says
    // Reads from masters only: a replica may not have the write this process just made.
    scaleReads: 'master',
    ...(lazyConnect !== undefined ? { lazyConnect } : {}),
    ...(typeof retryStrategy === 'function' ? { clusterRetryStrategy: (times: number) => retryStrategy(times) ?? null } : {}),
    redisOptions: { ...perNode, ...auth },
  });
}

export function isCluster(client: RedisClient): client is Cluster {
  return client.isCluster;
}

/** The nodes a key scan must visit: every master of a cluster (SCAN is per node), else the client itself. */
export function scanTargets(client: RedisClient): Redis[] {
  return isCluster(client) ? client.nodes('master') : [client];
}
