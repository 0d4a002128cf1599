import { describe, expect, it } from 'vitest';
import { makeCluster } from '../testing.ts';
import { computeStatus, CONDITION_REDIS_READY } from '../status.ts';
import { buildConfigMap } from './config.ts';
import { buildChildren } from './index.ts';
import { buildRedisService, buildRedisStatefulSet } from './redis.ts';
import { buildRedisClusterInitJob, REDIS_CLUSTER_INIT_SCRIPT } from './redis-cluster.ts';

const clustered = (cluster: { shards?: number; replicasPerShard?: number } = {}, redis: Record<string, unknown> = {}) =>
  makeCluster({ redis: { cluster: { shards: 3, replicasPerShard: 0, ...cluster }, ...redis } });

describe('managed Redis Cluster (spec.redis.cluster)', () => {
  it('runs shards × (1 + replicasPerShard) cluster-mode pods behind a headless Service, formed by one Job', () => {
    const cr = clustered({ shards: 3, replicasPerShard: 1 });
    const sts = buildRedisStatefulSet(cr)!;
    expect(sts.spec!.replicas).toBe(6);
    expect(sts.spec!.podManagementPolicy).toBe('Parallel');
    const args = sts.spec!.template.spec!.containers[0]!.args!;
    const flag = (name: string) => args[args.indexOf(name) + 1];
    expect(flag('--cluster-enabled')).toBe('yes');
    expect(flag('--cluster-config-file')).toBe('/data/nodes.conf'); // on the volume: a restarted node keeps its identity
    expect(flag('--cluster-announce-hostname')).toBe('$(POD_NAME).chat-redis.im.svc');
    expect(flag('--cluster-preferred-endpoint-type')).toBe('ip'); // redirections follow gossip, not DNS caches
    expect(buildRedisService(cr)!.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });

    const job = buildRedisClusterInitJob(cr)!;
    const c = job.spec!.template.spec!.containers[0]!;
    expect(c.image).toBe('redis:7.4');
    expect(c.command).toEqual(['sh', '-c', REDIS_CLUSTER_INIT_SCRIPT]);
    const env = Object.fromEntries(c.env!.map((e) => [e.name, e.value]));
    expect(env['REDIS_REPLICAS']).toBe('1');
    expect(env['REDIS_NODES']!.split(' ')).toEqual([0, 1, 2, 3, 4, 5].map((i) => `chat-redis-${i}.chat-redis.im.svc:6379`));
    // its pods must not be selected by the Redis Service
    expect(job.spec!.template.metadata!.labels!['app.kubernetes.io/component']).toBe('redis-init');
    expect(buildRedisService(cr)!.spec!.selector!['app.kubernetes.io/component']).toBe('redis');
  });

  it('hands every node to the services as seeds of a redis-cluster:// URL', () => {
    expect(buildConfigMap(clustered()).data!['CIM_REDIS_URL']).toBe(
      'redis-cluster://chat-redis-0.chat-redis.im.svc:6379,chat-redis-1.chat-redis.im.svc:6379,chat-redis-2.chat-redis.im.svc:6379',
    );
  });

  it('passes the password to the nodes (requirepass, masterauth) and to the Job', () => {
    const cr = clustered({}, { passwordSecretRef: { name: 'redis-pw' } });
    const args = buildRedisStatefulSet(cr)!.spec!.template.spec!.containers[0]!.args!;
    expect(args).toContain('--masterauth');
    expect(args).toContain('--requirepass');
    const env = buildRedisClusterInitJob(cr)!.spec!.template.spec!.containers[0]!.env!;
    expect(env.find((e) => e.name === 'REDISCLI_AUTH')?.valueFrom).toEqual({ secretKeyRef: { name: 'redis-pw', key: 'password' } });
  });

  it('builds no Job and no cluster flags for a single primary', () => {
    const cr = makeCluster();
    expect(buildChildren(cr).some((o) => o.kind === 'Job')).toBe(false);
    expect(buildRedisStatefulSet(cr)!.spec!.template.spec!.containers[0]!.args).not.toContain('--cluster-enabled');
    expect(buildRedisService(cr)!.spec!.clusterIP).toBeUndefined();
  });

  it('is ready only when every node is ready and the Job has formed the cluster', () => {
    const cr = clustered();
    const sts = { ...buildRedisStatefulSet(cr)!, metadata: { generation: 1 }, status: { observedGeneration: 1, replicas: 3, readyReplicas: 3, updatedReplicas: 3 } };
    const condition = (redisInit?: object) =>
      computeStatus(cr, { redis: sts, ...(redisInit ? { redisInit } : {}) }, [], '2026-12-02T00:00:00Z').conditions!.find((c) => c.type === CONDITION_REDIS_READY)!;
    expect(condition()).toMatchObject({ status: 'False', message: '3/3 ready; job chat-redis-cluster-init not created yet' });
    expect(condition({ status: { active: 1, failed: 2 } })).toMatchObject({ status: 'False', message: '3/3 ready; job chat-redis-cluster-init forming the cluster (2 failed attempts)' });
    expect(condition({ status: { succeeded: 1 } })).toMatchObject({ status: 'True', message: '3/3 ready; cluster formed' });
  });
});
