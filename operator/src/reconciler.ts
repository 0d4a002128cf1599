/**
 * reconcile(key): read the CimCluster from the cache, build the desired children, apply them, delete leftovers,
 * observe the children, write status when it changed. Level-triggered: the key says *which* cluster, never *what
 * happened*; every pass recomputes everything from the latest cached state, so a missed or repeated event is
 * harmless and a child edited or deleted by hand is put back on the next pass.
 *
 * Result contract (after controller-runtime): resolve `{}` when done, `{ requeueAfterMs }` to look again later,
 * throw for a transient failure (the queue retries with per-key backoff). Failures that retrying cannot fix (an
 * immutable field change, a forbidden request) are not thrown: they become the Degraded condition and a Warning
 * Event, and the rest of the children keep being reconciled.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { CimCluster, CimClusterStatus } from './api/types.ts';
import type { V1Deployment, V1EndpointSlice, V1Job, V1Node, V1Service, V1StatefulSet } from '@kubernetes/client-node';
import { buildAuthSecret, buildChildren, isAuthSecretGenerated } from './builders/index.ts';
import { childNames, LABEL_INSTANCE } from './builders/common.ts';
import { redisClusterInitJobName } from './builders/redis-cluster.ts';
import { nodesToResolve, resolveExternalAddresses, SERVICE_NAME_LABEL, type ExternalObservation } from './builders/external.ts';
import { findCondition, isConditionTrue } from './conditions.ts';
import { KubeApiError, type KubeApi } from './kube-api.ts';
import { computeStatus, CONDITION_DEGRADED, CONDITION_READY, isStatusEqual, statusMergePatch, type Problem } from './status.ts';
import type { Logger } from '../../services/common/src/log.ts';

/** Kinds the operator creates and therefore watches (label-scoped) and prunes. */
// Secrets are not watched: that would need list/watch on every Secret in the cluster. The one Secret the operator
// creates is checked with a GET by name instead.
export const CHILD_KINDS = ['ConfigMap', 'Service', 'StatefulSet', 'Deployment', 'PodDisruptionBudget', 'Job'] as const;
export type ChildKind = (typeof CHILD_KINDS)[number];
/** Watched but never created: EndpointSlices of the per-pod external Services say which node each server runs on. */
export type WatchedKind = ChildKind | 'EndpointSlice';
const PRUNABLE: readonly ChildKind[] = ['ConfigMap', 'Service', 'StatefulSet', 'Deployment', 'PodDisruptionBudget'];

/** Read-only view of the informer caches. */
export interface ClusterView {
  getCluster(namespace: string, name: string): CimCluster | undefined;
  getChild(kind: WatchedKind, namespace: string, name: string): KubernetesObject | undefined;
  listChildren(kind: WatchedKind, namespace: string): KubernetesObject[];
}

export interface ReconcilerDeps {
  view: ClusterView;
  api: KubeApi;
  log: Logger;
  now: () => Date;
  /** A fresh random auth key (base64); injected so tests are deterministic. */
  newAuthKey: () => string;
  /** How soon to look again while the cluster is not Ready (a safety net; child events usually come first). */
  notReadyRequeueMs?: number;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
  /** Counted by the caller for metrics. */
  statusWritten?: boolean;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

function isOwnedBy(obj: KubernetesObject, cr: CimCluster): boolean {
  return (obj.metadata?.ownerReferences ?? []).some((r) => r.controller === true && r.uid === cr.metadata.uid);
}

function describe(obj: KubernetesObject | { kind: string; name: string }): string {
  return 'metadata' in obj ? `${obj.kind}/${obj.metadata?.name ?? '?'}` : `${obj.kind}/${'name' in obj ? obj.name : '?'}`;
}

function problemFor(obj: KubernetesObject | { kind: string; name: string }, err: KubeApiError): Problem {
  if (err.code === 422 && obj.kind === 'StatefulSet' && /Forbidden: updates to statefulset spec/.test(err.message)) {
    return {
      reason: 'ImmutableFieldChanged',
      message: `${describe(obj)}: the change touches a field the StatefulSet cannot update (volumeClaimTemplates, serviceName, podManagementPolicy or selector); revert it, or delete the StatefulSet with --cascade=orphan to let the operator recreate it`,
    };
  }
  if (err.code === 403) return { reason: 'Forbidden', message: `${describe(obj)}: ${err.message}` };
  return { reason: 'ApplyFailed', message: `${describe(obj)}: ${err.message}` };
}

export class Reconciler {
  readonly #d: ReconcilerDeps;
  /**
   * The status we last wrote per cluster and the resourceVersion it was computed from. Until the cache shows a newer
   * object, the cache's status is older than what the server holds; comparing against it would write (and emit
   * Events) twice.
   */
  #passes = 0;
  readonly #written = new Map<string, { fromResourceVersion: string | undefined; status: CimClusterStatus }>();

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const { view, api } = this.#d;
    const { namespace, name } = splitKey(key);
    const cr = view.getCluster(namespace, name);
    // Gone, or going: ownerReferences let the garbage collector delete the children; nothing to do.
    if (!cr || cr.metadata.deletionTimestamp) {
      this.#written.delete(key);
      return {};
    }
    const log = this.#d.log.child({ cluster: key, generation: cr.metadata.generation, reconcileId: ++this.#passes });

    const problems: Problem[] = [];
    let transient: unknown;
    const attempt = async (obj: KubernetesObject | { kind: string; name: string }, op: () => Promise<unknown>): Promise<void> => {
      try {
        await op();
      } catch (err) {
        if (err instanceof KubeApiError && err.isPermanent) {
          problems.push(problemFor(obj, err));
          log.warn({ err: err.message, code: err.code, object: describe(obj) }, 'child rejected');
        } else {
          transient ??= err;
          log.warn({ err, object: describe(obj) }, 'child apply failed; will retry');
        }
      }
    };

    // External addresses come from observed state (allocated ports, nodes, load balancers), so they are resolved
    // before the desired children are built: the address ConfigMap is one of them.
    const obs: Omit<ExternalObservation, 'node'> = {
      service: (n) => view.getChild('Service', namespace, n) as V1Service | undefined,
      endpointSlices: (svc) =>
        view.listChildren('EndpointSlice', namespace).filter((o) => o.metadata?.labels?.[SERVICE_NAME_LABEL] === svc) as V1EndpointSlice[],
    };
    const nodes = new Map<string, V1Node | undefined>();
    for (const node of nodesToResolve(cr, obs)) {
      await attempt({ kind: 'Node', name: node }, async () => void nodes.set(node, await api.readNode(node)));
    }
    const external = resolveExternalAddresses(cr, { ...obs, node: (n) => nodes.get(n) });

    if (!cr.spec.paused) {
      if (isAuthSecretGenerated(cr)) {
        const ref = { apiVersion: 'v1', kind: 'Secret', namespace, name: childNames(cr).auth };
        await attempt(ref, async () => {
          if (await api.exists(ref)) return;
          // Created once; never applied again, which would rotate the key and log every user out.
          const r = await api.createIfAbsent(buildAuthSecret(cr, this.#d.newAuthKey()));
          if (r === 'created') log.info({ secret: ref.name }, 'auth secret generated');
        });
      }
      const desired = buildChildren(cr, external);
      for (const obj of desired) {
        if (obj.kind !== 'Job') await attempt(obj, () => api.apply(obj));
        // A Job's pod template is immutable: created once (its script is idempotent), never applied again, and not
        // even asked for while the cache holds it.
        else if (!view.getChild('Job', namespace, obj.metadata?.name ?? '')) await attempt(obj, () => api.createIfAbsent(obj));
      }

      const wanted = new Set(desired.map((o) => `${o.kind}/${o.metadata?.name}`));
      for (const kind of PRUNABLE) {
        for (const obj of view.listChildren(kind, namespace)) {
          if (obj.metadata?.labels?.[LABEL_INSTANCE] !== name || !isOwnedBy(obj, cr)) continue;
          if (wanted.has(`${kind}/${obj.metadata?.name}`)) continue;
          const ref = { apiVersion: obj.apiVersion ?? '', kind, namespace, name: obj.metadata?.name ?? '' };
          await attempt({ ...obj, kind }, async () => {
            await api.delete(ref);
            log.info({ object: `${kind}/${ref.name}` }, 'deleted child no longer wanted');
          });
        }
      }
    }

    const names = childNames(cr);
    const sts = (n: string) => view.getChild('StatefulSet', namespace, n) as V1StatefulSet | undefined;
    const observed = {
      redis: sts(names.redis),
      redisInit: view.getChild('Job', namespace, redisClusterInitJobName(cr)) as V1Job | undefined,
      zookeeper: sts(names.zookeeper),
      server: sts(names.server),
      route: view.getChild('Deployment', namespace, names.route) as V1Deployment | undefined,
      external,
    };
    const written = this.#written.get(key);
    const current =
      written && written.fromResourceVersion === cr.metadata.resourceVersion ? written.status : cr.status;
    const status = computeStatus({ ...cr, status: current }, observed, problems, this.#d.now().toISOString());

    let statusWritten = false;
    if (!isStatusEqual(current, status)) {
      const before = findCondition(current?.conditions, CONDITION_DEGRADED);
      const after = findCondition(status.conditions, CONDITION_DEGRADED);
      try {
        await api.patchClusterStatus(cr, statusMergePatch(current, status));
      } catch (err) {
        // Deleted since the cache saw it: nothing left to report on.
        if (err instanceof KubeApiError && err.code === 404) return {};
        throw err;
      }
      this.#written.set(key, { fromResourceVersion: cr.metadata.resourceVersion, status });
      statusWritten = true;
      // One Event per new problem, not one per pass.
      if (after?.status === 'True' && (before?.status !== 'True' || before.message !== after.message)) {
        await api.recordEvent(cr, 'Warning', after.reason, after.message).catch((err: unknown) => {
          log.warn({ err }, 'event not recorded');
        });
      }
      if (isConditionTrue(status.conditions, CONDITION_READY) && !isConditionTrue(current?.conditions, CONDITION_READY)) {
        log.info('cluster ready');
        await api.recordEvent(cr, 'Normal', 'Ready', 'every component is ready').catch(() => {});
      }
    }
    if (transient !== undefined) throw transient;
    const ready = isConditionTrue(status.conditions, CONDITION_READY);
    log.debug({ phase: status.phase, statusWritten, problems: problems.length }, 'reconciled');
    return ready || cr.spec.paused ? { statusWritten } : { statusWritten, requeueAfterMs: this.#d.notReadyRequeueMs ?? 30_000 };
  }
}
