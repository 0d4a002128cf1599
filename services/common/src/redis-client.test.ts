import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createRedisClient, isCluster, parseRedisTarget } from './redis-client.ts';

describe('parseRedisTarget', () => {
  it('leaves redis:// and rediss:// URLs to ioredis', () => {
    expect(parseRedisTarget('redis://:pw@h:6380/2')).toEqual({ mode: 'single', url: 'redis://:pw@h:6380/2' });
    expect(parseRedisTarget('rediss://h')).toEqual({ mode: 'single', url: 'rediss://h' });
  });

  it('reads a cluster\'s seeds and credentials, default port 6379', () => {
    expect(parseRedisTarget('redis-cluster://u%40x:p%3Aw@10.0.0.1:7000,[::1]:7001,redis-2')).toEqual({
      mode: 'cluster',
      nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '::1', port: 7001 }, { host: 'redis-2', port: 6379 }],
      username: 'u@x',
      password: 'p:w',
    });
    expect(parseRedisTarget('redis-cluster://:secret@h:1')).toEqual({ mode: 'cluster', nodes: [{ host: 'h', port: 1 }], password: 'secret' });
  });

  it('reads sentinels and the master name, default port 26379', () => {
    expect(parseRedisTarget('redis-sentinel://s1,s2:26380/my-master')).toEqual({
      mode: 'sentinel',
      sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }],
      masterName: 'my-master',
    });
  });

  it.each([
    ['', /expected redis:\/\//],
    ['http://h:1', /expected redis:\/\//],
    ['redis-cluster://', /expected/],
    ['redis-cluster://h:0', /bad host "h:0"/],
    ['redis-cluster://h:65536', /bad host/],
    ['redis-cluster://a,,b', /bad host ""/],
    ['redis-cluster://h:1/0', /no path/],
    ['redis-sentinel://s:26379', /master name/],
    ['redis-sentinel://s:26379/', /master name/],
    ['redis-sentinel://s/has space', /expected|master name/],
    ['redis-cluster://:%zz@h', /%-escape/],
    [`redis-cluster://${Array.from({ length: 65 }, (_, i) => `h${i}`).join(',')}`, /at most 64/],
  ])('refuses %j', (url, message) => {
    expect(() => parseRedisTarget(url)).toThrow(message);
  });

  it('never repeats a password in its errors', () => {
    expect(() => parseRedisTarget('redis-cluster://:hunter2@h:99999')).toThrow(/^(?!.*hunter2)/);
  });

  it('agrees with the CimCluster CRD pattern of spec.redis.external.url', () => {
    const crd = readFileSync(new URL('../../../crds/cimcluster.yaml', import.meta.url), 'utf8');
    const afterUrl = crd.slice(crd.indexOf('external:', crd.indexOf('redis:')));
    const pattern = new RegExp(/pattern: '([^']+)'/.exec(afterUrl)![1]!);
    for (const ok of ['redis://r:6379', 'rediss://:p@r:6380/1', 'redis-cluster://a:1,b:2', 'redis-sentinel://s1:26379,s2:26379/mymaster']) {
      expect(pattern.test(ok), ok).toBe(true);
      expect(() => parseRedisTarget(ok)).not.toThrow();
    }
    for (const bad of ['http://r:6379', 'redis-sentinel://s1:26379', 'redis-cluster://a:1/0']) {
      expect(pattern.test(bad), bad).toBe(false);
      expect(() => parseRedisTarget(bad)).toThrow();
    }
  });
});

describe('createRedisClient', () => {
  it('builds a Cluster for redis-cluster://, a sentinel-backed Redis for redis-sentinel://, else a Redis', () => {
    const opts = { redis: { lazyConnect: true } };
    const cluster = createRedisClient('redis-cluster://:urlpw@127.0.0.1:1,127.0.0.1:2', { ...opts, password: 'flag' });
    const sentinel = createRedisClient('redis-sentinel://127.0.0.1:3/m', opts);
    const single = createRedisClient('redis://127.0.0.1:4', opts);
    try {
      if (!isCluster(cluster)) throw new Error('not a Cluster');
      expect(cluster.options.scaleReads).toBe('master');
      expect(cluster.options.redisOptions).toMatchObject({ password: 'flag', maxRetriesPerRequest: 2 });
      expect(isCluster(sentinel)).toBe(false);
      expect(!isCluster(sentinel) && sentinel.options).toMatchObject({ name: 'm', sentinels: [{ host: '127.0.0.1', port: 3 }] });
      // No auto-pipelining anywhere (redis-client.ts says why).
      expect(!isCluster(single) && single.options).toMatchObject({ host: '127.0.0.1', port: 4, enableAutoPipelining: false });
      expect(!isCluster(sentinel) && sentinel.options.enableAutoPipelining).toBe(false);
      expect(cluster.options.enableAutoPipelining).toBe(false);
    } finally {
      for (const c of [cluster, sentinel, single]) c.disconnect();
    }
  });
});
