/** The CRD as the real API server enforces it: schema defaults, CEL rules, /scale, printer columns. */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { GROUP, PLURAL, VERSION } from '../../operator/src/api/types.ts';
import { clientsFor, deleteTestNamespace, createCluster, createNamespace, getCluster, patchClusterSpec, rejection, type Clients } from './harness/kube.ts';
import { kubectl } from './harness/tools.ts';

const NS = 'e2e-crd';
let admin: Clients;

beforeAll(async () => {
  admin = clientsFor(inject('adminKubeconfig'));
  await createNamespace(admin, NS);
});

afterAll(async () => {
  if (admin) await deleteTestNamespace(admin, NS);
});

describe('CimCluster CRD', () => {
  it('fills every default from the schema when the spec is empty', async () => {
    await createCluster(admin, NS, 'defaults', {});
    const cr = await getCluster(admin, NS, 'defaults');
    expect(cr.spec).toMatchObject({
      paused: false,
      imagePullPolicy: 'IfNotPresent',
      redis: { image: 'redis:7.4', storage: { size: '1Gi', ephemeral: false } },
      zookeeper: { image: 'zookeeper:3.9', replicas: 1, root: '/cim', storage: { size: '1Gi', ephemeral: false } },
      server: { replicas: 2, tcpPort: 11211, httpPort: 8081, heartbeatTimeoutSeconds: 30, shutdownTimeoutSeconds: 10 },
      route: { replicas: 1, port: 8083, strategy: 'round-robin', service: { type: 'ClusterIP' } },
      auth: { enabled: true },
      login: { policy: 'reject', maxDevices: 5 },
    });
  });

  it.each([
    [{ zookeeper: { replicas: 2 } }, 'zookeeper.replicas must be 1 or 3'],
    [{ server: { replicas: -1 } }, 'spec.server.replicas: Invalid value: -1: spec.server.replicas in body should be greater than or equal to 0'],
    [{ server: { tcpPort: 70000 } }, 'should be less than or equal to 65535'],
    [{ server: { tcpPort: 9000, httpPort: 9000 } }, 'server.tcpPort and server.httpPort must differ'],
    [{ route: { strategy: 'fastest' } }, 'Unsupported value: "fastest"'],
    [{ redis: { external: { url: 'http://redis:6379' } } }, 'spec.redis.external.url in body should match'],
    [{ redis: { external: { url: 'redis-sentinel://s1:26379,s2:26379' } } }, 'spec.redis.external.url in body should match'],
    [{ imagePullPolicy: 'Sometimes' }, 'Unsupported value: "Sometimes"'],
    [{ login: { policy: 'everyone' } }, 'Unsupported value: "everyone"'],
    [{ login: { maxDevices: 0 } }, 'spec.login.maxDevices in body should be greater than or equal to 1'],
    [{ server: { external: { type: 'ClusterIP' } } }, 'Unsupported value: "ClusterIP"'],
    [{ server: { external: {} } }, 'spec.server.external.type: Required value'],
    [{ server: { external: { type: 'NodePort', nodePorts: [{ tcp: 31000, http: 31000 }] } } }, 'server.external.nodePorts: tcp and http of one pod must differ'],
    [{ server: { external: { type: 'NodePort', hosts: ['bad host'] } } }, 'spec.server.external.hosts[0] in body should match'],
    [{ redis: { cluster: {}, external: { url: 'redis://r:6379' } } }, 'redis.cluster and redis.external exclude each other'],
    [{ redis: { cluster: { shards: 2 } } }, 'spec.redis.cluster.shards in body should be greater than or equal to 3'],
    [{ redis: { cluster: { replicasPerShard: 3 } } }, 'spec.redis.cluster.replicasPerShard in body should be less than or equal to 2'],
  ])('rejects %j with a clear message', async (spec, message) => {
    const r = await rejection(createCluster(admin, NS, 'invalid', spec));
    expect(r.code).toBe(422);
    expect(r.message).toContain(message);
  });

  it('refuses to change zookeeper.replicas after creation', async () => {
    await createCluster(admin, NS, 'zk-fixed', { zookeeper: { replicas: 1 } });
    const r = await rejection(patchClusterSpec(admin, NS, 'zk-fixed', { zookeeper: { replicas: 3 } }));
    expect(r.code).toBe(422);
    expect(r.message).toContain('zookeeper.replicas is immutable');
  });

  it('defaults a managed Redis Cluster to 3 shards without replicas, and refuses to reshape, add or remove it', async () => {
    await createCluster(admin, NS, 'redis-cluster', { redis: { cluster: {} } });
    expect((await getCluster(admin, NS, 'redis-cluster')).spec.redis).toMatchObject({ cluster: { shards: 3, replicasPerShard: 0 } });
    for (const [patch, message] of [
      [{ redis: { cluster: { shards: 4 } } }, 'redis.cluster is immutable (resharding is not supported)'],
      [{ redis: { cluster: null } }, 'redis.cluster cannot be added or removed after creation'],
    ] as const) {
      const r = await rejection(patchClusterSpec(admin, NS, 'redis-cluster', patch));
      expect(r.code).toBe(422);
      expect(r.message).toContain(message);
    }
    await createCluster(admin, NS, 'redis-single', {});
    const r = await rejection(patchClusterSpec(admin, NS, 'redis-single', { redis: { cluster: {} } }));
    expect(r.message).toContain('redis.cluster cannot be added or removed after creation');
  });

  it('serves the /scale subresource on spec.server.replicas', async () => {
    await createCluster(admin, NS, 'scalable', { server: { replicas: 4 } });
    const scale = await admin.custom.getNamespacedCustomObjectScale({ group: GROUP, version: VERSION, plural: PLURAL, namespace: NS, name: 'scalable' });
    expect((scale as { spec?: { replicas?: number } }).spec?.replicas).toBe(4);
    const r = await kubectl(inject('binDir'), inject('adminKubeconfig'), ['scale', '-n', NS, 'cimcluster/scalable', '--replicas=6']);
    expect(r.stderr).toBe('');
    expect((await getCluster(admin, NS, 'scalable')).spec.server.replicas).toBe(6);
  });

  it('prints phase, servers, desired, routes, ready and age columns', async () => {
    const r = await kubectl(inject('binDir'), inject('adminKubeconfig'), ['get', 'cimclusters', '-n', NS]);
    expect(r.code).toBe(0);
    const header = r.stdout.split('\n')[0]?.split(/\s+/);
    expect(header).toEqual(['NAME', 'PHASE', 'SERVERS', 'DESIRED', 'ROUTES', 'READY', 'AGE']);
    const short = await kubectl(inject('binDir'), inject('adminKubeconfig'), ['get', 'cim', '-n', NS, '-o', 'name']);
    expect(short.stdout).toContain('cimcluster.cim.dev/defaults');
  });
});
