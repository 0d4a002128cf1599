import type { V1StatefulSet } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { makeCluster } from '../testing.ts';
import { buildAuthSecret, buildChildren, isAuthSecretGenerated } from './index.ts';
import { buildConfigMap } from './config.ts';
import { buildRedisStatefulSet } from './redis.ts';
import { buildRouteDeployment, buildRouteService, routeEndpoint } from './route.ts';
import { buildServerPdb, buildServerStatefulSet } from './server.ts';
import { buildZookeeperHeadlessService, buildZookeeperStatefulSet, zookeeperConnectString } from './zookeeper.ts';

const names = (cr = makeCluster()) => buildChildren(cr).map((o) => `${o.kind}/${o.metadata?.name}`);
const env = (c: { env?: { name: string; value?: string; valueFrom?: unknown }[] } | undefined) =>
  Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

describe('buildChildren', () => {
  it('builds every child of a default cluster in apply order', () => {
    expect(names()).toEqual([
      'ConfigMap/chat-config',
      'Service/chat-redis',
      'StatefulSet/chat-redis',
      'Service/chat-zk-hs',
      'Service/chat-zk',
      'StatefulSet/chat-zk',
      'Service/chat-server-hs',
      'PodDisruptionBudget/chat-server',
      'StatefulSet/chat-server',
      'Service/chat-route',
      'Deployment/chat-route',
    ]);
  });

  it('adds a ZooKeeper PDB only for a 3-member ensemble', () => {
    expect(names(makeCluster({ zookeeper: { replicas: 3 } }))).toContain('PodDisruptionBudget/chat-zk');
  });

  it('builds no Redis or ZooKeeper when both are external', () => {
    const cr = makeCluster({ redis: { external: { url: 'redis://r:6379' } }, zookeeper: { external: { connectString: 'z:2181' } } });
    expect(names(cr).filter((n) => /redis|zk/.test(n))).toEqual([]);
    expect(buildConfigMap(cr).data).toEqual({ CIM_ZK_CONNECT: 'z:2181', CIM_ZK_ROOT: '/cim', CIM_REDIS_URL: 'redis://r:6379', CIM_LOGIN_POLICY: 'reject', CIM_MAX_DEVICES: '5' });
  });

  it('gives servers and routes the same login policy', () => {
    const cr = makeCluster({ login: { policy: 'multi', maxDevices: 3 } });
    expect(buildConfigMap(cr).data).toMatchObject({ CIM_LOGIN_POLICY: 'multi', CIM_MAX_DEVICES: '3' });
  });

  it('gives every child the labels and a controller reference to its cluster', () => {
    for (const obj of buildChildren(makeCluster())) {
      expect(obj.metadata?.namespace).toBe('im');
      expect(obj.metadata?.labels).toMatchObject({
        'app.kubernetes.io/name': 'cim',
        'app.kubernetes.io/instance': 'chat',
        'app.kubernetes.io/managed-by': 'cim-operator',
      });
      expect(obj.metadata?.ownerReferences).toEqual([
        { apiVersion: 'cim.dev/v1alpha1', kind: 'CimCluster', name: 'chat', uid: 'uid-1', controller: true, blockOwnerDeletion: true },
      ]);
      expect(obj).not.toHaveProperty('status');
    }
  });

  it('is pure: the same cluster gives the same objects', () => {
    expect(buildChildren(makeCluster())).toEqual(buildChildren(makeCluster()));
  });
});

describe('ZooKeeper', () => {
  it('derives myid from the ordinal and lists every member', () => {
    const sts = buildZookeeperStatefulSet(makeCluster({ zookeeper: { replicas: 3 } }))!;
    const c = sts.spec?.template.spec?.containers[0];
    expect(c?.command?.[2]).toContain('ZOO_MY_ID=$(( ${HOSTNAME##*-} + 1 ))');
    expect(env(c)['ZOO_SERVERS']).toBe(
      'server.1=chat-zk-0.chat-zk-hs.im.svc:2888:3888;2181 server.2=chat-zk-1.chat-zk-hs.im.svc:2888:3888;2181 server.3=chat-zk-2.chat-zk-hs.im.svc:2888:3888;2181',
    );
    expect(env(c)['ZOO_STANDALONE_ENABLED']).toBe('false');
    // A fresh ensemble forms within seconds: the election's backoff is capped and failed lookups are not cached;
    // found ones for the DNS TTL only (a replaced leader is found at its new address).
    expect(env(c)['JVMFLAGS']).toBe('-Dzookeeper.fastleader.maxNotificationInterval=5000 -Dsun.net.inetaddr.negative.ttl=1 -Dsun.net.inetaddr.ttl=5');
    expect(sts.spec?.podManagementPolicy).toBe('Parallel');
    expect(sts.spec?.serviceName).toBe('chat-zk-hs');
  });

  it('keeps the data directory at the volume root, where the image can write myid into an empty volume', () => {
    // The official entrypoint runs `echo $ZOO_MY_ID > "$ZOO_DATA_DIR/myid"` without mkdir: a subdirectory of a fresh
    // volume (the old /data/data) crash-looped with "myid: No such file or directory".
    for (const storage of [{ size: '1Gi', ephemeral: false }, { size: '1Gi', ephemeral: true }]) {
      const c = buildZookeeperStatefulSet(makeCluster({ zookeeper: { storage } }))!.spec?.template.spec?.containers[0];
      const mount = c?.volumeMounts?.find((m) => m.name === 'data')?.mountPath;
      expect(env(c)['ZOO_DATA_DIR']).toBe(mount);
      expect(String(env(c)['ZOO_DATA_LOG_DIR']).startsWith(`${mount}/`)).toBe(true);
      // The log directory is created before the entrypoint runs (it chowns it when started as root).
      expect(c?.command?.[2]).toMatch(/mkdir -p "\$ZOO_DATA_DIR" "\$ZOO_DATA_LOG_DIR"; .*; exec \/docker-entrypoint\.sh/);
    }
  });

  it('publishes members before they are ready', () => {
    expect(buildZookeeperHeadlessService(makeCluster())?.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
  });

  it('connects to every member', () => {
    expect(zookeeperConnectString(makeCluster({ zookeeper: { replicas: 3 } }))).toBe(
      'chat-zk-0.chat-zk-hs.im.svc:2181,chat-zk-1.chat-zk-hs.im.svc:2181,chat-zk-2.chat-zk-hs.im.svc:2181',
    );
  });

  it('claims a volume by default and uses an emptyDir when ephemeral', () => {
    const persistent = buildZookeeperStatefulSet(makeCluster({ zookeeper: { storage: { size: '5Gi', storageClassName: 'fast', ephemeral: false } } }))!;
    expect(persistent.spec?.volumeClaimTemplates?.[0]?.spec).toEqual({
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '5Gi' } },
      storageClassName: 'fast',
    });
    expect(persistent.spec?.template.spec?.volumes).toEqual([]);
    const ephemeral = buildZookeeperStatefulSet(makeCluster({ zookeeper: { storage: { size: '1Gi', ephemeral: true } } }))!;
    expect(ephemeral.spec?.volumeClaimTemplates).toEqual([]);
    expect(ephemeral.spec?.template.spec?.volumes).toEqual([{ name: 'data', emptyDir: {} }]);
  });
});

describe('Redis', () => {
  it('runs one append-only primary', () => {
    const sts = buildRedisStatefulSet(makeCluster())!;
    expect(sts.spec?.replicas).toBe(1);
    expect(sts.spec?.template.spec?.containers[0]?.args).toEqual(['redis-server', '--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', '/data']);
  });

  it('requires the password from the referenced Secret', () => {
    const cr = makeCluster({ redis: { passwordSecretRef: { name: 'redis-pw', key: 'pw' } } });
    const c = buildRedisStatefulSet(cr)!.spec?.template.spec?.containers[0];
    expect(c?.args?.slice(-2)).toEqual(['--requirepass', '$(REDIS_PASSWORD)']);
    expect(env(c)['REDIS_PASSWORD']).toEqual({ secretKeyRef: { name: 'redis-pw', key: 'pw' } });
    expect(env(buildServerStatefulSet(cr).spec?.template.spec?.containers[0])['CIM_REDIS_PASSWORD']).toEqual({
      secretKeyRef: { name: 'redis-pw', key: 'pw' },
    });
  });
});

describe('cim-server', () => {
  it('advertises the pod IP, reads shared settings, and drains within its grace period', () => {
    const sts = buildServerStatefulSet(makeCluster({ server: { replicas: 3, shutdownTimeoutSeconds: 20 } }));
    const pod = sts.spec?.template.spec;
    const c = pod?.containers[0];
    expect(sts.spec?.replicas).toBe(3);
    expect(c?.args).toEqual(['server']);
    expect(env(c)).toMatchObject({
      CIM_ADVERTISE_HOST: { fieldRef: { fieldPath: 'status.podIP' } },
      CIM_TCP_PORT: '11211',
      CIM_HTTP_PORT: '8081',
      CIM_SHUTDOWN_TIMEOUT: '20',
      CIM_AUTH_SECRET: { secretKeyRef: { name: 'chat-auth', key: 'auth-secret' } },
    });
    expect(c?.envFrom).toEqual([{ configMapRef: { name: 'chat-config' } }]);
    expect(pod?.terminationGracePeriodSeconds).toBeGreaterThan(20 + 3);
    expect(c?.lifecycle?.preStop?.sleep?.seconds).toBe(3);
    expect(c?.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c?.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(sts.spec?.template.metadata?.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8081' });
  });

  it('rolls the pods when shared settings change', () => {
    const hash = (root: string) =>
      buildServerStatefulSet(makeCluster({ zookeeper: { root } })).spec?.template.metadata?.annotations?.['cim.dev/config-hash'];
    expect(hash('/a')).not.toBe(hash('/b'));
  });

  it('sends the auth secret even when auth is disabled (pushes always need it), and a user Secret when given', () => {
    const off = buildServerStatefulSet(makeCluster({ auth: { enabled: false } }));
    expect(env(off.spec?.template.spec?.containers[0])).toMatchObject({ CIM_AUTH: 'cim', CIM_AUTH_SECRET: { secretKeyRef: { name: 'chat-auth', key: 'auth-secret' } } });
    expect(isAuthSecretGenerated(makeCluster({ auth: { enabled: false } }))).toBe(true);
    expect(isAuthSecretGenerated(makeCluster({ auth: { enabled: false, secretRef: { name: 'mine', key: 'k' } } }))).toBe(false);
    const own = buildRouteDeployment(makeCluster({ auth: { enabled: true, secretRef: { name: 'mine', key: 'k' } } }));
    expect(env(own.spec?.template.spec?.containers[0])['CIM_AUTH_SECRET']).toEqual({ secretKeyRef: { name: 'mine', key: 'k' } });
  });

  it('lets one server be disrupted at a time', () => {
    expect(buildServerPdb(makeCluster()).spec?.maxUnavailable).toBe(1);
  });
});

describe('cim-route', () => {
  it('runs the requested strategy behind a Service of the requested type', () => {
    const cr = makeCluster({ route: { replicas: 2, strategy: 'consistent-hash', service: { type: 'NodePort' } } });
    const dep = buildRouteDeployment(cr);
    expect(dep.spec?.replicas).toBe(2);
    expect(env(dep.spec?.template.spec?.containers[0])).toMatchObject({ CIM_STRATEGY: 'consistent-hash', CIM_PORT: '8083' });
    expect(buildRouteService(cr).spec?.type).toBe('NodePort');
  });
});

describe('images', () => {
  const containers = (cr = makeCluster()) =>
    buildChildren(cr).flatMap((o) => ((o as V1StatefulSet).spec?.template?.spec?.containers ?? []).map((c) => [c.name, c.imagePullPolicy]));

  it('pull IfNotPresent by default, so locally imported images run', () => {
    expect(containers()).toEqual([
      ['redis', 'IfNotPresent'],
      ['zookeeper', 'IfNotPresent'],
      ['cim-server', 'IfNotPresent'],
      ['cim-route', 'IfNotPresent'],
    ]);
  });

  it('pull as spec.imagePullPolicy says', () => {
    expect(new Set(containers(makeCluster({ imagePullPolicy: 'Never' })).map(([, p]) => p))).toEqual(new Set(['Never']));
  });

  it('default to the images the CRD names', () => {
    const images = buildChildren(makeCluster()).flatMap((o) => ((o as V1StatefulSet).spec?.template?.spec?.containers ?? []).map((c) => c.image));
    expect(images).toEqual(['redis:7.4', 'zookeeper:3.9', 'cim-server:0.1.0', 'cim-route:0.1.0']);
  });

  it('run cim-server and cim-route on a read-only root filesystem as a non-root user', () => {
    for (const w of [buildServerStatefulSet(makeCluster()), buildRouteDeployment(makeCluster())]) {
      expect(w.spec?.template.spec?.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
      expect(w.spec?.template.spec?.containers[0]?.securityContext).toEqual({
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        readOnlyRootFilesystem: true,
      });
    }
  });
});

describe('auth Secret', () => {
  it('carries the injected key', () => {
    expect(buildAuthSecret(makeCluster(), 'k3y').stringData).toEqual({ 'auth-secret': 'k3y' });
  });
});

describe('spec.tls', () => {
  const cr = makeCluster({ tls: { secretName: 'chat-tls', caInSecret: true } });
  const tlsVolume = { name: 'tls', secret: { secretName: 'chat-tls' } };
  const tlsMount = { name: 'tls', mountPath: '/etc/cim/tls', readOnly: true };

  it('mounts the Secret read-only into cim-server, sets its TLS env and probes over HTTPS', () => {
    const pod = buildServerStatefulSet(cr).spec!.template.spec!;
    const c = pod.containers[0]!;
    expect(pod.volumes).toEqual([tlsVolume]);
    expect(c.volumeMounts).toEqual([tlsMount]);
    expect(env(c)).toMatchObject({
      CIM_TLS_CERT: '/etc/cim/tls/tls.crt',
      CIM_TLS_KEY: '/etc/cim/tls/tls.key',
      CIM_SERVER_TLS_CA: '/etc/cim/tls/ca.crt',
      CIM_TLS_NAME: 'chat-server-hs.im.svc',
    });
    expect(c.readinessProbe?.httpGet?.scheme).toBe('HTTPS');
    expect(c.livenessProbe?.httpGet?.scheme).toBe('HTTPS');
  });

  it('mounts it into cim-route with the CA that verifies the servers, HTTPS probes and an https endpoint', () => {
    const pod = buildRouteDeployment(cr).spec!.template.spec!;
    const c = pod.containers[0]!;
    expect(pod.volumes).toEqual([tlsVolume]);
    expect(c.volumeMounts).toEqual([tlsMount]);
    const e = env(c);
    expect(e).toMatchObject({ CIM_TLS_CERT: '/etc/cim/tls/tls.crt', CIM_TLS_KEY: '/etc/cim/tls/tls.key', CIM_SERVER_TLS_CA: '/etc/cim/tls/ca.crt' });
    expect(e['CIM_TLS_NAME']).toBeUndefined();
    expect(c.readinessProbe?.httpGet?.scheme).toBe('HTTPS');
    expect(c.livenessProbe?.httpGet?.scheme).toBe('HTTPS');
    expect(routeEndpoint(cr)).toBe('https://chat-route.im.svc:8083');
  });

  it('keeps the external-address mount next to the TLS one, and uses the system CAs when the Secret has no ca.crt', () => {
    const both = makeCluster({ tls: { secretName: 'public-tls', caInSecret: false }, server: { external: { type: 'NodePort' } } });
    const c = buildServerStatefulSet(both).spec!.template.spec!.containers[0]!;
    expect(c.volumeMounts?.map((m) => m.name)).toEqual(['external-address', 'tls']);
    expect(env(c)['CIM_SERVER_TLS_CA']).toBeUndefined();
    expect(env(buildRouteDeployment(both).spec!.template.spec!.containers[0])['CIM_SERVER_TLS_CA']).toBeUndefined();
  });

  it('changes nothing without spec.tls: no TLS env, no volume, HTTP probes without a scheme', () => {
    for (const c of [buildServerStatefulSet(makeCluster()).spec!.template.spec!.containers[0]!, buildRouteDeployment(makeCluster()).spec!.template.spec!.containers[0]!]) {
      expect(Object.keys(env(c)).filter((k) => k.includes('TLS'))).toEqual([]);
      expect(c.volumeMounts).toBeUndefined();
      expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    }
    expect(routeEndpoint(makeCluster())).toBe('http://chat-route.im.svc:8083');
  });
});
