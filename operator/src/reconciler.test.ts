import type { KubernetesObject, V1Node, V1Service, V1StatefulSet } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { CimCluster, CimClusterStatus } from './api/types.ts';
import { KubeApiError, type KubeApi, type ObjectRef } from './kube-api.ts';
import { Reconciler, type ClusterView, type WatchedKind } from './reconciler.ts';
import { makeCluster } from './testing.ts';
import { silentLogger } from '../../services/common/src/log.ts';

/** RFC 7386, as the API server applies a merge patch to the status. */
function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

/** An in-memory API server: applied objects land in the same store the view reads, like an informer cache. */
class FakeCluster implements KubeApi, ClusterView {
  clusters = new Map<string, CimCluster>();
  objects = new Map<string, KubernetesObject>();
  events: { type: string; reason: string; message: string }[] = [];
  statusWrites: CimClusterStatus[] = [];
  applyErrors = new Map<string, Error>();
  calls: string[] = [];
  nodes = new Map<string, V1Node>();

  static key(kind: string | undefined, ns: string | undefined, name: string | undefined) {
    return `${kind}/${ns}/${name}`;
  }
  async apply(obj: KubernetesObject) {
    const k = FakeCluster.key(obj.kind, obj.metadata?.namespace, obj.metadata?.name);
    this.calls.push(`apply ${obj.kind}/${obj.metadata?.name}`);
    const err = this.applyErrors.get(`${obj.kind}/${obj.metadata?.name}`);
    if (err) throw err;
    this.objects.set(k, { ...this.objects.get(k), ...obj });
  }
  async createIfAbsent(obj: KubernetesObject) {
    const k = FakeCluster.key(obj.kind, obj.metadata?.namespace, obj.metadata?.name);
    this.calls.push(`create ${obj.kind}/${obj.metadata?.name}`);
    if (this.objects.has(k)) return 'exists' as const;
    this.objects.set(k, obj);
    return 'created' as const;
  }
  async exists(ref: ObjectRef) {
    return this.objects.has(FakeCluster.key(ref.kind, ref.namespace, ref.name));
  }
  async delete(ref: ObjectRef) {
    this.calls.push(`delete ${ref.kind}/${ref.name}`);
    this.objects.delete(FakeCluster.key(ref.kind, ref.namespace, ref.name));
  }
  async patchClusterStatus(cr: CimCluster, patch: CimClusterStatus | Record<string, unknown>) {
    const status = applyMergePatch(this.clusters.get(`${cr.metadata.namespace}/${cr.metadata.name}`)?.status, patch) as CimClusterStatus;
    this.statusWrites.push(status);
    const k = `${cr.metadata.namespace}/${cr.metadata.name}`;
    const rv = String(Number(cr.metadata.resourceVersion ?? '0') + 1);
    this.clusters.set(k, { ...cr, metadata: { ...cr.metadata, resourceVersion: rv }, status });
  }
  async readNode(name: string) {
    this.calls.push(`get Node/${name}`);
    return this.nodes.get(name);
  }
  async recordEvent(_cr: CimCluster, type: 'Normal' | 'Warning', reason: string, message: string) {
    this.events.push({ type, reason, message });
  }
  getCluster(ns: string, name: string) {
    return this.clusters.get(`${ns}/${name}`);
  }
  getChild(kind: WatchedKind, ns: string, name: string) {
    return this.objects.get(FakeCluster.key(kind, ns, name));
  }
  listChildren(kind: WatchedKind, ns: string) {
    return [...this.objects.values()].filter((o) => o.kind === kind && o.metadata?.namespace === ns);
  }
  /** What the StatefulSet controller and kwok would do: every pod ready. */
  markAllReady() {
    for (const [k, o] of this.objects) {
      if (o.kind !== 'StatefulSet' && o.kind !== 'Deployment') continue;
      const replicas = (o as V1StatefulSet).spec?.replicas ?? 0;
      const status = { observedGeneration: 1, replicas, readyReplicas: replicas, updatedReplicas: replicas, availableReplicas: replicas };
      this.objects.set(k, { ...o, metadata: { ...o.metadata, generation: 1 }, status } as KubernetesObject);
    }
  }
}

const setup = (cr: CimCluster = makeCluster({}, { resourceVersion: '1' })) => {
  const fake = new FakeCluster();
  fake.clusters.set('im/chat', cr);
  let n = 0;
  const reconciler = new Reconciler({
    view: fake,
    api: fake,
    log: silentLogger,
    now: () => new Date('2026-01-01T00:00:00Z'),
    newAuthKey: () => `key-${++n}`,
  });
  return { fake, reconciler };
};

describe('Reconciler', () => {
  it('applies every child, generates the auth secret, and polls while not ready', async () => {
    const { fake, reconciler } = setup();
    const r = await reconciler.reconcile('im/chat');
    expect(r.requeueAfterMs).toBeGreaterThan(0);
    expect(fake.calls[0]).toBe('create Secret/chat-auth');
    expect(fake.calls.filter((c) => c.startsWith('apply'))).toHaveLength(11);
    expect(fake.getCluster('im', 'chat')?.status?.phase).toBe('Provisioning');
  });

  it('becomes Ready, emits one Ready event, and stops writing status once nothing changes', async () => {
    const { fake, reconciler } = setup();
    await reconciler.reconcile('im/chat');
    fake.markAllReady();
    expect(await reconciler.reconcile('im/chat')).toEqual({ statusWritten: true });
    expect(fake.getCluster('im', 'chat')?.status?.phase).toBe('Running');
    const writes = fake.statusWrites.length;
    await reconciler.reconcile('im/chat');
    await reconciler.reconcile('im/chat');
    expect(fake.statusWrites).toHaveLength(writes);
    expect(fake.events.filter((e) => e.reason === 'Ready')).toHaveLength(1);
  });

  it('never regenerates an existing auth secret', async () => {
    const { fake, reconciler } = setup();
    await reconciler.reconcile('im/chat');
    await reconciler.reconcile('im/chat');
    expect(fake.calls.filter((c) => c === 'create Secret/chat-auth')).toHaveLength(1);
    expect((fake.objects.get('Secret/im/chat-auth') as { stringData?: unknown }).stringData).toEqual({ 'auth-secret': 'key-1' });
  });

  it('turns a refused immutable change into Degraded plus one Warning, and still applies the rest', async () => {
    const { fake, reconciler } = setup();
    fake.applyErrors.set(
      'StatefulSet/chat-redis',
      new KubeApiError(422, 'Invalid', 'StatefulSet.apps "chat-redis" is invalid: spec: Forbidden: updates to statefulset spec for fields other than ...'),
    );
    await reconciler.reconcile('im/chat');
    await reconciler.reconcile('im/chat');
    const degraded = fake.getCluster('im', 'chat')?.status?.conditions?.find((c) => c.type === 'Degraded');
    expect(degraded).toMatchObject({ status: 'True', reason: 'ImmutableFieldChanged' });
    expect(fake.events.filter((e) => e.type === 'Warning')).toEqual([expect.objectContaining({ reason: 'ImmutableFieldChanged' })]);
    expect(fake.calls).toContain('apply Deployment/chat-route');
  });

  it('throws a transient failure after finishing the pass, so the queue retries with backoff', async () => {
    const { fake, reconciler } = setup();
    fake.applyErrors.set('ConfigMap/chat-config', new KubeApiError(503, 'ServiceUnavailable', 'try later'));
    await expect(reconciler.reconcile('im/chat')).rejects.toThrow('try later');
    expect(fake.calls).toContain('apply Deployment/chat-route');
    expect(fake.statusWrites).toHaveLength(1);
  });

  it('deletes children the spec no longer wants', async () => {
    const { fake, reconciler } = setup(makeCluster({ zookeeper: { replicas: 3 } }, { resourceVersion: '1' }));
    await reconciler.reconcile('im/chat');
    expect(fake.getChild('PodDisruptionBudget', 'im', 'chat-zk')).toBeDefined();
    const cr = fake.getCluster('im', 'chat')!;
    fake.clusters.set('im/chat', { ...cr, spec: { ...cr.spec, redis: { ...cr.spec.redis, external: { url: 'redis://ext:6379' } } } });
    await reconciler.reconcile('im/chat');
    expect(fake.calls).toContain('delete StatefulSet/chat-redis');
    expect(fake.calls).toContain('delete Service/chat-redis');
    expect(fake.getChild('StatefulSet', 'im', 'chat-redis')).toBeUndefined();
  });

  it('changes nothing while paused but still reports status', async () => {
    const { fake, reconciler } = setup(makeCluster({ paused: true }, { resourceVersion: '1' }));
    expect(await reconciler.reconcile('im/chat')).toEqual({ statusWritten: true });
    expect(fake.calls).toEqual([]);
    expect(fake.getCluster('im', 'chat')?.status?.phase).toBe('Paused');
  });

  it('publishes external addresses once the cluster reports them, and prunes them when external access is removed', async () => {
    const { fake, reconciler } = setup(makeCluster({ server: { replicas: 1, external: { type: 'NodePort' } } }, { resourceVersion: '1' }));
    await reconciler.reconcile('im/chat');
    expect(fake.calls).toContain('apply Service/chat-server-0-external');
    const cm = () => fake.getChild('ConfigMap', 'im', 'chat-server-external') as { data?: Record<string, string> } | undefined;
    expect(cm()?.data).toEqual({}); // nothing known yet: no node ports, no node
    expect(fake.getCluster('im', 'chat')?.status?.server?.external).toEqual([]);

    // What the API server and the EndpointSlice controller report: allocated node ports, the pod's node.
    const svc = fake.getChild('Service', 'im', 'chat-server-0-external') as V1Service;
    fake.objects.set('Service/im/chat-server-0-external', {
      ...svc,
      spec: { ...svc.spec, ports: svc.spec?.ports?.map((p, i) => ({ ...p, nodePort: 30100 + i })) },
    } as KubernetesObject);
    fake.objects.set('EndpointSlice/im/chat-server-0-external-x1', {
      kind: 'EndpointSlice',
      metadata: { namespace: 'im', name: 'chat-server-0-external-x1', labels: { 'kubernetes.io/service-name': 'chat-server-0-external' } },
      endpoints: [{ addresses: ['10.244.0.5'], nodeName: 'n0' }],
    } as KubernetesObject);
    fake.nodes.set('n0', { metadata: { name: 'n0' }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.7' }] } });
    await reconciler.reconcile('im/chat');
    expect(fake.calls).toContain('get Node/n0');
    expect(cm()?.data).toEqual({ 'chat-server-0': JSON.stringify({ host: '10.0.0.7', tcpPort: 30100, httpPort: 30101 }) });
    expect(fake.getCluster('im', 'chat')?.status?.server?.external).toEqual([{ pod: 'chat-server-0', host: '10.0.0.7', tcpPort: 30100, httpPort: 30101 }]);

    const cr = fake.getCluster('im', 'chat')!;
    const { external: _removed, ...server } = cr.spec.server;
    fake.clusters.set('im/chat', { ...cr, spec: { ...cr.spec, server } });
    fake.calls = [];
    await reconciler.reconcile('im/chat');
    expect(fake.calls).toEqual(expect.arrayContaining(['delete Service/chat-server-0-external', 'delete ConfigMap/chat-server-external']));
    expect(fake.calls).not.toContain('get Node/n0');
    // A merge patch cannot drop a key by leaving it out: it is sent as null and gone afterwards.
    expect(fake.getCluster('im', 'chat')?.status?.server).not.toHaveProperty('external');
    const writes = fake.statusWrites.length;
    await reconciler.reconcile('im/chat');
    expect(fake.statusWrites).toHaveLength(writes);
  });

  it('does nothing for a deleted cluster', async () => {
    const { fake, reconciler } = setup();
    fake.clusters.clear();
    expect(await reconciler.reconcile('im/chat')).toEqual({});
    expect(fake.calls).toEqual([]);
  });
});
