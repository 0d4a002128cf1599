/**
 * The operator against a real control plane, running as the Helm chart's ServiceAccount with exactly the chart's
 * RBAC. One CimCluster goes through its life: children created, Ready through kwok, scaled through /scale, drift
 * repaired, an immutable change refused while the rest reconciles, and garbage collection on delete.
 */
import { join } from 'node:path';
import type { KubernetesObject, V1Deployment, V1StatefulSet } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  clientsFor,
  condition,
  createCluster,
  createNamespace,
  deleteTestNamespace,
  getCluster,
  isNotFound,
  patchClusterSpec,
  rejection,
  type Clients,
} from './harness/kube.ts';
import { startOperator, type OperatorProcess } from './harness/operator-process.ts';
import { kubectl } from './harness/tools.ts';

const NS = 'e2e-operator';
const NAME = 'chat';
const INSTANCE = `app.kubernetes.io/instance=${NAME}`;
let admin: Clients;
let operator: OperatorProcess;

const ephemeral = { ephemeral: true };
const SPEC = {
  redis: { storage: ephemeral },
  zookeeper: { replicas: 3, storage: ephemeral },
  server: { replicas: 2 },
  route: { replicas: 1 },
};

beforeAll(async () => {
  admin = clientsFor(inject('adminKubeconfig'));
  await createNamespace(admin, NS);
  operator = await startOperator({
    kubeconfig: inject('operatorKubeconfig'),
    logDir: join(inject('workDir'), 'logs'),
    identity: 'operator-e2e',
  });
});

afterAll(async () => {
  const code = await operator?.stop();
  if (admin) await deleteTestNamespace(admin, NS);
  expect(code, `operator log:\n${operator?.tail()}`).toBe(0);
});

const read = async <T extends KubernetesObject>(kind: string, apiVersion: string, name: string): Promise<T | undefined> => {
  try {
    return (await admin.objects.read({ apiVersion, kind, metadata: { name, namespace: NS } })) as T;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
};
const sts = (name: string) => read<V1StatefulSet>('StatefulSet', 'apps/v1', name);
const cluster = () => getCluster(admin, NS, NAME);
const envOf = (s: V1StatefulSet | V1Deployment | undefined) =>
  Object.fromEntries((s?.spec?.template.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
const poll = { timeout: 60_000, interval: 250 };
const ready = async () => {
  const cr = await cluster();
  return { ready: condition(cr, 'Ready')?.status, phase: cr.status?.phase, caughtUp: cr.status?.observedGeneration === cr.metadata.generation };
};

describe('cim operator', () => {
  it('creates every child of a CimCluster with the expected spec', async () => {
    const cr = await createCluster(admin, NS, NAME, SPEC);
    const uid = cr.metadata.uid;
    const children: [string, string, string][] = [
      ['ConfigMap', 'v1', 'chat-config'],
      ['Secret', 'v1', 'chat-auth'],
      ['Service', 'v1', 'chat-redis'],
      ['StatefulSet', 'apps/v1', 'chat-redis'],
      ['Service', 'v1', 'chat-zk-hs'],
      ['Service', 'v1', 'chat-zk'],
      ['PodDisruptionBudget', 'policy/v1', 'chat-zk'],
      ['StatefulSet', 'apps/v1', 'chat-zk'],
      ['Service', 'v1', 'chat-server-hs'],
      ['PodDisruptionBudget', 'policy/v1', 'chat-server'],
      ['StatefulSet', 'apps/v1', 'chat-server'],
      ['Service', 'v1', 'chat-route'],
      ['Deployment', 'apps/v1', 'chat-route'],
    ];
    for (const [kind, apiVersion, name] of children) {
      const obj = await expect.poll(() => read(kind, apiVersion, name), poll).toBeDefined().then(() => read(kind, apiVersion, name));
      expect(obj?.metadata?.ownerReferences, `${kind}/${name}`).toEqual([
        expect.objectContaining({ kind: 'CimCluster', name: NAME, uid, controller: true, blockOwnerDeletion: true }),
      ]);
      expect(obj?.metadata?.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'cim-operator', 'app.kubernetes.io/instance': NAME });
      if (kind !== 'Secret') {
        expect(obj?.metadata?.managedFields?.some((f) => f.manager === 'cim-operator' && f.operation === 'Apply'), `${kind}/${name} applied`).toBe(true);
      }
    }

    const zkHs = await read<KubernetesObject & { spec: { publishNotReadyAddresses?: boolean; clusterIP?: string } }>('Service', 'v1', 'chat-zk-hs');
    expect(zkHs?.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
    const zk = await sts('chat-zk');
    expect(zk?.spec?.replicas).toBe(3);
    expect(zk?.spec?.podManagementPolicy).toBe('Parallel');
    expect(zk?.spec?.template.spec?.containers[0]?.command?.join(' ')).toContain('ZOO_MY_ID=$(( ${HOSTNAME##*-} + 1 ))');
    expect(envOf(zk)['ZOO_SERVERS']).toBe(
      [1, 2, 3].map((id) => `server.${id}=chat-zk-${id - 1}.chat-zk-hs.${NS}.svc:2888:3888;2181`).join(' '),
    );

    const server = await sts('chat-server');
    expect(server?.spec).toMatchObject({ replicas: 2, serviceName: 'chat-server-hs' });
    const c = server?.spec?.template.spec?.containers[0];
    expect(c?.args).toEqual(['server']);
    expect(c?.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(c?.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(c?.envFrom).toEqual([{ configMapRef: { name: 'chat-config' } }]);
    expect(envOf(server)).toMatchObject({
      CIM_ADVERTISE_HOST: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } },
      CIM_AUTH_SECRET: { secretKeyRef: { name: 'chat-auth', key: 'auth-secret' } },
      CIM_TCP_PORT: '11211',
    });
    expect(server?.spec?.template.metadata?.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8081' });
    expect(server?.spec?.template.spec?.terminationGracePeriodSeconds).toBeGreaterThan(10);

    const route = await read<V1Deployment>('Deployment', 'apps/v1', 'chat-route');
    expect(route?.spec?.template.spec?.containers[0]?.args).toEqual(['route']);
    const cm = await read<KubernetesObject & { data?: Record<string, string> }>('ConfigMap', 'v1', 'chat-config');
    expect(cm?.data).toEqual({
      CIM_ZK_CONNECT: [0, 1, 2].map((i) => `chat-zk-${i}.chat-zk-hs.${NS}.svc:2181`).join(','),
      CIM_ZK_ROOT: '/cim',
      CIM_REDIS_URL: `redis://chat-redis.${NS}.svc:6379`,
      CIM_LOGIN_POLICY: 'reject',
      CIM_MAX_DEVICES: '5',
    });
  });

  it('reports Ready with per-component status once kwok runs the pods', async () => {
    await expect.poll(ready, poll).toEqual({ ready: 'True', phase: 'Running', caughtUp: true });
    const cr = await cluster();
    expect(cr.status).toMatchObject({
      server: { replicas: 2, readyReplicas: 2, selector: `app.kubernetes.io/name=cim,${INSTANCE},app.kubernetes.io/component=cim-server` },
      zookeeper: { replicas: 3, readyReplicas: 3 },
      route: { replicas: 1, readyReplicas: 1, endpoint: `http://chat-route.${NS}.svc:8083` },
      redis: { ready: true, endpoint: `redis://chat-redis.${NS}.svc:6379` },
    });
    for (const type of ['RedisReady', 'ZookeeperReady', 'ServerReady', 'RouteReady']) {
      expect(condition(cr, type), type).toMatchObject({ status: 'True', observedGeneration: cr.metadata.generation });
    }
    expect(condition(cr, 'Degraded')?.status).toBe('False');
    expect(condition(cr, 'Progressing')?.status).toBe('False');
    const events = await admin.core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=${NAME},reason=Ready` });
    expect(events.items.length).toBeGreaterThan(0);
  });

  it('scales cim-server with kubectl scale through the /scale subresource', async () => {
    const k = (n: number) => kubectl(inject('binDir'), inject('adminKubeconfig'), ['scale', '-n', NS, `cimcluster/${NAME}`, `--replicas=${n}`]);
    expect((await k(3)).code).toBe(0);
    await expect.poll(async () => (await sts('chat-server'))?.spec?.replicas, poll).toBe(3);
    await expect.poll(async () => (await cluster()).status?.server?.readyReplicas, poll).toBe(3);
    await expect.poll(ready, poll).toEqual({ ready: 'True', phase: 'Running', caughtUp: true });

    expect((await k(1)).code).toBe(0);
    await expect.poll(async () => (await sts('chat-server'))?.spec?.replicas, poll).toBe(1);
    await expect.poll(async () => (await cluster()).status?.server, poll).toMatchObject({ replicas: 1, readyReplicas: 1 });
    await expect.poll(ready, poll).toEqual({ ready: 'True', phase: 'Running', caughtUp: true });
  });

  it('repairs children edited by hand', async () => {
    await kubectl(inject('binDir'), inject('adminKubeconfig'), ['scale', '-n', NS, 'deployment/chat-route', '--replicas=4']);
    await kubectl(inject('binDir'), inject('adminKubeconfig'), ['patch', '-n', NS, 'configmap/chat-config', '--type=merge', '-p', '{"data":{"CIM_ZK_ROOT":"/hijacked"}}']);
    await expect.poll(async () => (await read<V1Deployment>('Deployment', 'apps/v1', 'chat-route'))?.spec?.replicas, poll).toBe(1);
    await expect
      .poll(async () => (await read<KubernetesObject & { data?: Record<string, string> }>('ConfigMap', 'v1', 'chat-config'))?.data?.['CIM_ZK_ROOT'], poll)
      .toBe('/cim');
  });

  it('recreates children deleted by hand', async () => {
    const before = await read('Service', 'v1', 'chat-server-hs');
    await admin.core.deleteNamespacedService({ name: 'chat-server-hs', namespace: NS });
    await admin.apps.deleteNamespacedStatefulSet({ name: 'chat-redis', namespace: NS });
    await expect.poll(async () => (await read('Service', 'v1', 'chat-server-hs'))?.metadata?.uid, poll).not.toBe(before?.metadata?.uid);
    await expect.poll(async () => (await read('Service', 'v1', 'chat-server-hs'))?.metadata?.uid, poll).toBeDefined();
    await expect.poll(async () => (await sts('chat-redis'))?.metadata?.uid, poll).toBeDefined();
    await expect.poll(ready, poll).toEqual({ ready: 'True', phase: 'Running', caughtUp: true });
  });

  it('generates the auth key once and never rotates it', async () => {
    const before = await admin.core.readNamespacedSecret({ name: 'chat-auth', namespace: NS });
    expect(Buffer.from(before.data?.['auth-secret'] ?? '', 'base64').length).toBe(44);
    await patchClusterSpec(admin, NS, NAME, { route: { replicas: 2 } });
    await expect.poll(async () => (await read<V1Deployment>('Deployment', 'apps/v1', 'chat-route'))?.spec?.replicas, poll).toBe(2);
    await expect.poll(ready, poll).toEqual({ ready: 'True', phase: 'Running', caughtUp: true });
    const after = await admin.core.readNamespacedSecret({ name: 'chat-auth', namespace: NS });
    expect(after.metadata?.uid).toBe(before.metadata?.uid);
    expect(after.data).toEqual(before.data);
  });

  it('refuses an immutable change with Degraded and a Warning Event while the rest reconciles', async () => {
    // Persistent storage would add volumeClaimTemplates to the Redis StatefulSet, which it cannot update.
    await patchClusterSpec(admin, NS, NAME, { redis: { storage: { ephemeral: false } }, route: { replicas: 1 } });
    await expect
      .poll(async () => {
        const cr = await cluster();
        const d = condition(cr, 'Degraded');
        return { degraded: d?.status, reason: d?.reason, phase: cr.status?.phase, ready: condition(cr, 'Ready')?.status };
      }, poll)
      .toEqual({ degraded: 'True', reason: 'ImmutableFieldChanged', phase: 'Degraded', ready: 'False' });
    expect(condition(await cluster(), 'Degraded')?.message).toContain('StatefulSet/chat-redis');
    // The rest of the spec was still applied.
    await expect.poll(async () => (await read<V1Deployment>('Deployment', 'apps/v1', 'chat-route'))?.spec?.replicas, poll).toBe(1);
    await expect
      .poll(async () => {
        const ev = await admin.core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=${NAME},reason=ImmutableFieldChanged` });
        return ev.items.map((e) => e.type);
      }, poll)
      .toContain('Warning');

    await patchClusterSpec(admin, NS, NAME, { redis: { storage: { ephemeral: true } } });
    await expect.poll(ready, poll).toEqual({ ready: 'True', phase: 'Running', caughtUp: true });
    expect(condition(await cluster(), 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
  });

  it('writes status only when it changes', async () => {
    await expect.poll(ready, poll).toEqual({ ready: 'True', phase: 'Running', caughtUp: true });
    const reconciles = async () => {
      const m = await operator.metrics();
      return Number(/^cim_operator_reconcile_total\{result="success"\} (\d+)/m.exec(m)?.[1] ?? 0);
    };
    // An annotation change enqueues the cluster (generation stays), so a pass runs with nothing to change.
    await kubectl(inject('binDir'), inject('adminKubeconfig'), ['annotate', '-n', NS, `cimcluster/${NAME}`, 'e2e/touch=1', '--overwrite']);
    const rv = (await cluster()).metadata.resourceVersion;
    const before = await reconciles();
    await kubectl(inject('binDir'), inject('adminKubeconfig'), ['annotate', '-n', NS, `cimcluster/${NAME}`, 'e2e/touch=2', '--overwrite']);
    const rv2 = (await cluster()).metadata.resourceVersion;
    expect(rv2).not.toBe(rv);
    await expect.poll(reconciles, poll).toBeGreaterThan(before);
    expect((await cluster()).metadata.resourceVersion).toBe(rv2);
  });

  it('serves metrics and health probes', async () => {
    const m = await operator.metrics();
    for (const line of [
      /^cim_operator_reconcile_total\{result="success"\} [1-9]/m,
      /^cim_operator_reconcile_total\{result="error"\} \d+/m,
      /^cim_operator_reconcile_duration_seconds_count [1-9]/m,
      /^cim_operator_workqueue_depth \d+/m,
      /^cim_operator_watch_events_total\{resource="statefulsets",event="update"\} [1-9]/m,
      /^cim_operator_leader 1/m,
      /^cim_operator_status_writes_total [1-9]/m,
    ]) {
      expect(m).toMatch(line);
    }
    expect((await fetch(`http://127.0.0.1:${operator.httpPort}/readyz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${operator.httpPort}/healthz`)).status).toBe(200);
  });

  it('runs with no more access than the chart grants', async () => {
    const op = clientsFor(inject('operatorKubeconfig'));
    expect((await rejection(op.core.listSecretForAllNamespaces())).code).toBe(403);
    expect((await rejection(op.core.listPodForAllNamespaces())).code).toBe(403);
    expect((await rejection(op.core.deleteNamespace({ name: NS }))).code).toBe(403);
    // External access reads a Node by name (its addresses), never lists Nodes or reads Pods.
    expect((await rejection(op.core.listNode())).code).toBe(403);
    expect((await op.core.readNode({ name: 'kwok-node-0' })).metadata?.name).toBe('kwok-node-0');
    // An RBAC denial reads 'is forbidden: User "…" cannot …'; other 403s (a terminating namespace) are not RBAC.
    const forbidden = operator.logLines().filter((l) => /is forbidden: User/.test(JSON.stringify(l)));
    expect(forbidden).toEqual([]);
  });

  it('reconciles a cluster that uses an external Redis and ZooKeeper', async () => {
    await createCluster(admin, NS, 'ext', {
      redis: { external: { url: 'redis://:secret@redis.example.internal:6379' } },
      zookeeper: { external: { connectString: 'zk-a:2181,zk-b:2181' } },
      server: { replicas: 1 },
    });
    await expect
      .poll(async () => {
        const cr = await getCluster(admin, NS, 'ext');
        return { ready: condition(cr, 'Ready')?.status, redis: condition(cr, 'RedisReady')?.reason, zk: condition(cr, 'ZookeeperReady')?.reason };
      }, poll)
      .toEqual({ ready: 'True', redis: 'External', zk: 'External' });
    const cr = await getCluster(admin, NS, 'ext');
    expect(cr.status?.redis?.endpoint).toBe('redis://redis.example.internal:6379');
    expect(await read('StatefulSet', 'apps/v1', 'ext-redis')).toBeUndefined();
    expect(await read('StatefulSet', 'apps/v1', 'ext-zk')).toBeUndefined();
    const cm = await read<KubernetesObject & { data?: Record<string, string> }>('ConfigMap', 'v1', 'ext-config');
    expect(cm?.data).toMatchObject({ CIM_ZK_CONNECT: 'zk-a:2181,zk-b:2181', CIM_REDIS_URL: 'redis://:secret@redis.example.internal:6379' });
  });

  it('runs a managed Redis Cluster: its nodes, the Job that forms it, and Ready only once the Job has succeeded', async () => {
    await createCluster(admin, NS, 'rc', { redis: { cluster: { shards: 3, replicasPerShard: 1 }, storage: ephemeral }, zookeeper: { storage: ephemeral }, server: { replicas: 1 } });
    type Job = KubernetesObject & { spec?: { template: { spec: { containers: { env: { name: string; value: string }[] }[] } } } };
    const readJob = () => read<Job>('Job', 'batch/v1', 'rc-redis-cluster-init');
    const job = await expect.poll(readJob, poll).toBeDefined().then(readJob);
    const jobEnv = Object.fromEntries(job!.spec!.template.spec.containers[0]!.env.map((e) => [e.name, e.value]));
    expect(jobEnv['REDIS_NODES']!.split(' ')).toHaveLength(6);
    expect(jobEnv['REDIS_REPLICAS']).toBe('1');
    expect((await sts('rc-redis'))?.spec?.replicas).toBe(6);
    expect((await read<KubernetesObject & { spec?: { clusterIP?: string } }>('Service', 'v1', 'rc-redis'))?.spec?.clusterIP).toBe('None');
    const cm = await read<KubernetesObject & { data?: Record<string, string> }>('ConfigMap', 'v1', 'rc-config');
    expect(cm?.data?.['CIM_REDIS_URL']).toMatch(/^redis-cluster:\/\/rc-redis-0\.rc-redis\.e2e-operator\.svc:6379,(rc-redis-\d\.rc-redis\.e2e-operator\.svc:6379,?){5}$/);
    const redisState = async () => {
      const cr = await getCluster(admin, NS, 'rc');
      return { ready: condition(cr, 'Ready')?.status, redis: condition(cr, 'RedisReady')?.message };
    };
    // kwok runs every pod, the Job's too, and never ends one: with all 6 nodes ready, Redis waits for the Job.
    await expect.poll(redisState, poll).toEqual({ ready: 'False', redis: '6/6 ready; job rc-redis-cluster-init forming the cluster (0 failed attempts)' });
    // The script exits 0 (what a kubelet would report; kwok has no container to run): the Job controller marks the
    // Job succeeded, and only then is Redis, and the cluster, ready.
    const jobPods = async () => (await admin.core.listNamespacedPod({ namespace: NS, labelSelector: 'job-name=rc-redis-cluster-init' })).items;
    const pods = await expect.poll(jobPods, poll).toHaveLength(1).then(jobPods);
    const pod = pods[0]!;
    const finishedAt = new Date();
    await admin.core.replaceNamespacedPodStatus({
      namespace: NS,
      name: pod.metadata!.name!,
      body: {
        ...pod,
        status: {
          ...pod.status,
          phase: 'Succeeded',
          conditions: [{ type: 'Ready', status: 'False', reason: 'PodCompleted' }],
          containerStatuses: [{ name: 'cluster-init', image: 'redis:7.4', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: finishedAt, finishedAt } } }],
        },
      },
    });
    await expect.poll(redisState, poll).toEqual({ ready: 'True', redis: '6/6 ready; cluster formed' });
    expect((await getCluster(admin, NS, 'rc')).status?.redis?.endpoint).toBe(cm?.data?.['CIM_REDIS_URL']);
  });

  it('leaves children alone while paused and repairs them once resumed', async () => {
    const reconciles = async () =>
      [...(await operator.metrics()).matchAll(/^cim_operator_reconcile_total\{result="[a-z_]+"\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    const routeReplicas = async () => (await read<V1Deployment>('Deployment', 'apps/v1', 'chat-route'))?.spec?.replicas;
    await patchClusterSpec(admin, NS, NAME, { paused: true });
    await expect.poll(async () => (await cluster()).status?.phase, poll).toBe('Paused');
    const before = await reconciles();
    await kubectl(inject('binDir'), inject('adminKubeconfig'), ['scale', '-n', NS, 'deployment/chat-route', '--replicas=3']);
    // The edit enqueued the cluster; once a pass has run, the edit must still be there.
    await expect.poll(reconciles, poll).toBeGreaterThan(before);
    expect(await routeReplicas()).toBe(3);

    await patchClusterSpec(admin, NS, NAME, { paused: false });
    await expect.poll(routeReplicas, poll).toBe(1);
    await expect.poll(ready, poll).toEqual({ ready: 'True', phase: 'Running', caughtUp: true });
  });

  it('garbage-collects every child when the CimCluster is deleted', async () => {
    const crs = [NAME, 'ext', 'rc'];
    for (const name of crs) {
      await admin.custom.deleteNamespacedCustomObject({ group: 'cim.dev', version: 'v1alpha1', plural: 'cimclusters', namespace: NS, name });
    }
    const remaining = async () => {
      const lists = await Promise.all([
        admin.apps.listNamespacedStatefulSet({ namespace: NS, labelSelector: 'app.kubernetes.io/managed-by=cim-operator' }),
        admin.apps.listNamespacedDeployment({ namespace: NS, labelSelector: 'app.kubernetes.io/managed-by=cim-operator' }),
        admin.core.listNamespacedService({ namespace: NS, labelSelector: 'app.kubernetes.io/managed-by=cim-operator' }),
        admin.core.listNamespacedConfigMap({ namespace: NS, labelSelector: 'app.kubernetes.io/managed-by=cim-operator' }),
        admin.core.listNamespacedSecret({ namespace: NS, labelSelector: 'app.kubernetes.io/managed-by=cim-operator' }),
        admin.core.listNamespacedPod({ namespace: NS }),
        admin.objects.list('batch/v1', 'Job', NS),
      ]);
      return lists.flatMap((l) => l.items.map((i: KubernetesObject) => i.metadata?.name));
    };
    await expect.poll(remaining, { timeout: 90_000, interval: 500 }).toEqual([]);
    const pdbs = await admin.objects.list('policy/v1', 'PodDisruptionBudget', NS);
    expect(pdbs.items).toEqual([]);
  });
});

