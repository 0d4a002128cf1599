/**
 * Wiring, in controller-runtime's words: For(CimCluster), Owns(ConfigMap, Service, StatefulSet,
 * Deployment, PodDisruptionBudget), Watches(EndpointSlice of the servers' Services, mapped by instance label).
 * Informer events only enqueue the owning cluster's key; `workers` loops take
 * keys from the de-duplicating queue and reconcile them, at most one pass per key at a time. A periodic resync
 * enqueues every cluster so drift is repaired even if an event was lost.
 */
import { randomBytes } from 'node:crypto';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { API_VERSION, KIND, PLURAL, GROUP, VERSION, type CimCluster } from './api/types.ts';
import { CHILD_SELECTOR, LABEL_COMPONENT, LABEL_INSTANCE } from './builders/common.ts';
import { ResilientInformer, type InformerEvent, type ResourceDef } from './informers.ts';
import type { KubeApi } from './kube-api.ts';
import type { OperatorMetrics } from './metrics.ts';
import { Reconciler, type ChildKind, type ClusterView, type WatchedKind } from './reconciler.ts';
import { WorkQueue } from './workqueue.ts';
import type { Logger } from '../../services/common/src/log.ts';

export const CLUSTER_RESOURCE: ResourceDef = {
  name: PLURAL,
  apiVersion: API_VERSION,
  kind: KIND,
  path: `/apis/${GROUP}/${VERSION}/${PLURAL}`,
};

export const CHILD_RESOURCES: Record<ChildKind, ResourceDef> = {
  ConfigMap: { name: 'configmaps', apiVersion: 'v1', kind: 'ConfigMap', path: '/api/v1/configmaps' },
  Service: { name: 'services', apiVersion: 'v1', kind: 'Service', path: '/api/v1/services' },
  StatefulSet: { name: 'statefulsets', apiVersion: 'apps/v1', kind: 'StatefulSet', path: '/apis/apps/v1/statefulsets' },
  Deployment: { name: 'deployments', apiVersion: 'apps/v1', kind: 'Deployment', path: '/apis/apps/v1/deployments' },
  Job: { name: 'jobs', apiVersion: 'batch/v1', kind: 'Job', path: '/apis/batch/v1/jobs' },
  PodDisruptionBudget: {
    name: 'poddisruptionbudgets',
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    path: '/apis/policy/v1/poddisruptionbudgets',
  },
};

/**
 * EndpointSlices of the servers' Services: they name the node each server pod runs on (external NodePort access)
 * without the operator reading Pods. The EndpointSlice controller copies the Service's labels onto its slices.
 */
export const ENDPOINT_SLICE_RESOURCE: ResourceDef = {
  name: 'endpointslices',
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  path: '/apis/discovery.k8s.io/v1/endpointslices',
  labelSelector: `${CHILD_SELECTOR},${LABEL_COMPONENT}=cim-server`,
};

export const RESOURCE_NAMES = [
  CLUSTER_RESOURCE.name,
  ...Object.values(CHILD_RESOURCES).map((r) => r.name),
  ENDPOINT_SLICE_RESOURCE.name,
];

export interface ControllerOptions {
  kc: KubeConfig;
  api: KubeApi;
  log: Logger;
  metrics: OperatorMetrics;
  workers: number;
  resyncPeriodMs: number;
  relistPeriodMs: number;
  namespace?: string;
  notReadyRequeueMs?: number;
}

/** The cluster a child belongs to: its controller ownerReference of kind CimCluster. */
export function ownerKey(obj: KubernetesObject): string | undefined {
  const ref = (obj.metadata?.ownerReferences ?? []).find(
    (r) => r.controller === true && r.kind === KIND && r.apiVersion.startsWith(`${GROUP}/`),
  );
  return ref && obj.metadata?.namespace ? `${obj.metadata.namespace}/${ref.name}` : undefined;
}

export class Controller {
  readonly #o: ControllerOptions;
  readonly #queue: WorkQueue;
  readonly #clusters: ResilientInformer<CimCluster & KubernetesObject>;
  readonly #children: Map<WatchedKind, ResilientInformer>;
  readonly #reconciler: Reconciler;
  #resyncTimer: NodeJS.Timeout | undefined;
  #workers: Promise<void>[] = [];
  #started = false;

  constructor(o: ControllerOptions) {
    this.#o = o;
    const m = o.metrics;
    this.#queue = new WorkQueue({ onDepth: (d) => m.workqueueDepth.set(d) });
    const common = { relistPeriodMs: o.relistPeriodMs, log: o.log, ...(o.namespace ? { namespace: o.namespace } : {}) };
    const onRestart = (resource: string) => (reason: 'error' | 'relist' | 'silence') =>
      m.watchRestartsTotal.inc({ resource, reason });

    this.#clusters = new ResilientInformer(o.kc, CLUSTER_RESOURCE, {
      ...common,
      onRestart: onRestart(CLUSTER_RESOURCE.name),
      onEvent: (type, obj) => {
        m.watchEventsTotal.inc({ resource: CLUSTER_RESOURCE.name, event: type });
        this.#onClusterEvent(type, obj);
      },
    });
    this.#children = new Map();
    for (const [kind, def] of Object.entries(CHILD_RESOURCES) as [ChildKind, ResourceDef][]) {
      this.#children.set(
        kind,
        new ResilientInformer(o.kc, { ...def, labelSelector: CHILD_SELECTOR }, {
          ...common,
          onRestart: onRestart(def.name),
          onEvent: (type, obj) => {
            m.watchEventsTotal.inc({ resource: def.name, event: type });
            const key = ownerKey(obj);
            if (key) this.#enqueue(key);
          },
        }),
      );
    }
    // A slice is owned by its Service, not by the CimCluster: map it through the copied instance label.
    this.#children.set(
      'EndpointSlice',
      new ResilientInformer(o.kc, ENDPOINT_SLICE_RESOURCE, {
        ...common,
        onRestart: onRestart(ENDPOINT_SLICE_RESOURCE.name),
        onEvent: (type, obj) => {
          m.watchEventsTotal.inc({ resource: ENDPOINT_SLICE_RESOURCE.name, event: type });
          const instance = obj.metadata?.labels?.[LABEL_INSTANCE];
          if (instance && obj.metadata?.namespace) this.#enqueue(`${obj.metadata.namespace}/${instance}`);
        },
      }),
    );
    const view: ClusterView = {
      getCluster: (ns, name) => this.#clusters.get(ns, name),
      getChild: (kind, ns, name) => this.#children.get(kind)?.get(ns, name),
      listChildren: (kind, ns) => this.#children.get(kind)?.list(ns) ?? [],
    };
    this.#reconciler = new Reconciler({
      view,
      api: o.api,
      log: o.log,
      now: () => new Date(),
      newAuthKey: () => randomBytes(32).toString('base64'),
      ...(o.notReadyRequeueMs !== undefined ? { notReadyRequeueMs: o.notReadyRequeueMs } : {}),
    });
  }

  /** True once every informer has listed at least once. */
  get isSynced(): boolean {
    return this.#clusters.isSynced && [...this.#children.values()].every((i) => i.isSynced);
  }

  get isStarted(): boolean {
    return this.#started;
  }

  /** Starts informers, waits for their first lists, then the workers and the resync timer. */
  async start(): Promise<void> {
    this.#started = true;
    await Promise.all([this.#clusters.start(), ...[...this.#children.values()].map((i) => i.start())]);
    while (!this.isSynced) {
      if (!this.#started) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!this.#started) return;
    for (const cr of this.#clusters.list()) this.#enqueue(`${cr.metadata.namespace}/${cr.metadata.name}`);
    this.#resyncTimer = setInterval(() => {
      for (const cr of this.#clusters.list()) this.#enqueue(`${cr.metadata.namespace}/${cr.metadata.name}`);
    }, this.#o.resyncPeriodMs);
    this.#resyncTimer.unref();
    this.#workers = Array.from({ length: this.#o.workers }, (_, i) => this.#work(i));
    this.#o.log.info({ workers: this.#o.workers }, 'controller started');
  }

  /** Stops taking keys, waits for in-flight passes, stops the informers. */
  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    clearInterval(this.#resyncTimer);
    this.#queue.shutDown();
    await Promise.all(this.#workers);
    await Promise.all([this.#clusters.stop(), ...[...this.#children.values()].map((i) => i.stop())]);
  }

  #enqueue(key: string): void {
    this.#o.metrics.workqueueAddsTotal.inc();
    this.#queue.add(key);
  }

  /** GenerationChangedPredicate: our own status writes bump resourceVersion, not generation; skip those. */
  #onClusterEvent(type: InformerEvent, obj: KubernetesObject): void {
    const key = `${obj.metadata?.namespace}/${obj.metadata?.name}`;
    if (type === 'delete') {
      this.#seen.delete(key);
      return;
    }
    const generation = obj.metadata?.generation;
    const labelsAndAnnotations = JSON.stringify([obj.metadata?.labels, obj.metadata?.annotations]);
    const seen = `${generation}|${labelsAndAnnotations}|${obj.metadata?.deletionTimestamp ?? ''}`;
    if (type === 'update' && this.#seen.get(key) === seen) return;
    this.#seen.set(key, seen);
    this.#enqueue(key);
  }

  readonly #seen = new Map<string, string>();

  async #work(id: number): Promise<void> {
    const m = this.#o.metrics;
    for (;;) {
      const key = await this.#queue.get();
      if (key === undefined) return;
      const end = m.reconcileDuration.startTimer();
      try {
        const result = await this.#reconciler.reconcile(key);
        if (result.statusWritten) m.statusWritesTotal.inc();
        this.#queue.forget(key);
        if (result.requeueAfterMs !== undefined) {
          m.reconcileTotal.inc({ result: 'requeue_after' });
          this.#queue.addAfter(key, result.requeueAfterMs);
        } else {
          m.reconcileTotal.inc({ result: 'success' });
        }
      } catch (err) {
        m.reconcileTotal.inc({ result: 'error' });
        m.reconcileErrorsTotal.inc();
        const retryInMs = this.#queue.addRateLimited(key);
        this.#o.log.warn({ err, cluster: key, worker: id, retryInMs }, 'reconcile failed');
      } finally {
        end();
        this.#queue.done(key);
      }
    }
  }
}
