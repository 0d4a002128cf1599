/**
 * Pure status computation: the CimCluster, what its children report, and the problems of this pass in; the
 * complete `.status` out. Readiness follows the checks of `kubectl rollout status`.
 */
import type { V1Deployment, V1Job, V1StatefulSet } from '@kubernetes/client-node';
import type { CimCluster, CimClusterStatus, ExternalAddress, Phase } from './api/types.ts';
import { selectorString } from './builders/common.ts';
import { redisUrl } from './builders/redis.ts';
import { redisClusterInitJobName, redisPodCount } from './builders/redis-cluster.ts';
import { routeEndpoint } from './builders/route.ts';
import { zookeeperConnectString } from './builders/zookeeper.ts';
import { mergeConditions, type ConditionInput } from './conditions.ts';

export const CONDITION_READY = 'Ready';
export const CONDITION_PROGRESSING = 'Progressing';
export const CONDITION_DEGRADED = 'Degraded';
export const CONDITION_REDIS_READY = 'RedisReady';
export const CONDITION_ZOOKEEPER_READY = 'ZookeeperReady';
export const CONDITION_SERVER_READY = 'ServerReady';
export const CONDITION_ROUTE_READY = 'RouteReady';

/** Something this pass could not do; it becomes the Degraded condition (and an Event). */
export interface Problem {
  reason: string;
  message: string;
}

export interface ObservedChildren {
  redis?: V1StatefulSet;
  /** the Job that forms a managed Redis Cluster (spec.redis.cluster) */
  redisInit?: V1Job;
  zookeeper?: V1StatefulSet;
  server?: V1StatefulSet;
  route?: V1Deployment;
  /** The servers' external addresses resolved so far (spec.server.external). */
  external?: readonly ExternalAddress[];
}

interface Rollout {
  ready: boolean;
  replicas: number;
  readyReplicas: number;
  message: string;
}

export function statefulSetRollout(sts: V1StatefulSet | undefined, desired: number): Rollout {
  if (!sts) return { ready: false, replicas: 0, readyReplicas: 0, message: 'not created yet' };
  const st = sts.status;
  const replicas = st?.replicas ?? 0;
  const readyReplicas = st?.readyReplicas ?? 0;
  const updated = st?.updatedReplicas ?? 0;
  const caughtUp = (st?.observedGeneration ?? 0) >= (sts.metadata?.generation ?? 1);
  const revisionDone = desired === 0 || !st?.updateRevision || st.currentRevision === st.updateRevision;
  const ready =
    caughtUp && readyReplicas === desired && replicas === desired && (desired === 0 || updated === desired) && revisionDone;
  return { ready, replicas, readyReplicas, message: `${readyReplicas}/${desired} ready` };
}

export function deploymentRollout(dep: V1Deployment | undefined, desired: number): Rollout {
  if (!dep) return { ready: false, replicas: 0, readyReplicas: 0, message: 'not created yet' };
  const st = dep.status;
  const replicas = st?.replicas ?? 0;
  const readyReplicas = st?.readyReplicas ?? 0;
  const caughtUp = (st?.observedGeneration ?? 0) >= (dep.metadata?.generation ?? 1);
  const ready =
    caughtUp &&
    (st?.updatedReplicas ?? 0) === desired &&
    (st?.availableReplicas ?? 0) === desired &&
    readyReplicas === desired &&
    replicas === desired;
  return { ready, replicas, readyReplicas, message: `${readyReplicas}/${desired} ready` };
}

/** Redis: its pods, and for a managed cluster also the Job that formed it (a cluster without slots serves nothing). */
function redisRollout(cr: CimCluster, observed: ObservedChildren): Rollout {
  const pods = statefulSetRollout(observed.redis, redisPodCount(cr));
  if (!cr.spec.redis.cluster) return pods;
  const job = observed.redisInit;
  const formed = (job?.status?.succeeded ?? 0) > 0;
  const jobState = formed ? 'cluster formed' : job ? `job ${redisClusterInitJobName(cr)} forming the cluster (${job.status?.failed ?? 0} failed attempts)` : `job ${redisClusterInitJobName(cr)} not created yet`;
  return { ...pods, ready: pods.ready && formed, message: `${pods.message}; ${jobState}` };
}

function componentCondition(type: string, external: boolean, r: Rollout): ConditionInput {
  if (external) return { type, status: 'True', reason: 'External', message: 'external service, not managed' };
  return r.ready
    ? { type, status: 'True', reason: 'Ready', message: r.message }
    : { type, status: 'False', reason: 'NotReady', message: r.message };
}

export function computeStatus(
  cr: CimCluster,
  observed: ObservedChildren,
  problems: readonly Problem[],
  nowIso: string,
): CimClusterStatus {
  const spec = cr.spec;
  const generation = cr.metadata.generation ?? 0;
  const redisExternal = spec.redis.external !== undefined;
  const zkExternal = spec.zookeeper.external !== undefined;
  const redis = redisRollout(cr, observed);
  const zk = statefulSetRollout(observed.zookeeper, spec.zookeeper.replicas);
  const server = statefulSetRollout(observed.server, spec.server.replicas);
  const route = deploymentRollout(observed.route, spec.route.replicas);

  const components = [
    componentCondition(CONDITION_REDIS_READY, redisExternal, redis),
    componentCondition(CONDITION_ZOOKEEPER_READY, zkExternal, zk),
    componentCondition(CONDITION_SERVER_READY, false, server),
    componentCondition(CONDITION_ROUTE_READY, false, route),
  ];
  const notReady = components.filter((c) => c.status !== 'True');
  const allReady = notReady.length === 0;
  const degraded = problems.length > 0;

  const degradedCond: ConditionInput = degraded
    ? {
        type: CONDITION_DEGRADED,
        status: 'True',
        reason: problems[0]!.reason,
        message: problems.map((p) => p.message).join('; '),
      }
    : { type: CONDITION_DEGRADED, status: 'False', reason: 'AsExpected', message: 'all children applied' };
  const progressing: ConditionInput = spec.paused
    ? { type: CONDITION_PROGRESSING, status: 'False', reason: 'Paused', message: 'spec.paused is true; children are not changed' }
    : allReady
      ? { type: CONDITION_PROGRESSING, status: 'False', reason: 'ReconcileComplete', message: 'every component is ready' }
      : {
          type: CONDITION_PROGRESSING,
          status: 'True',
          reason: 'RollingOut',
          message: `waiting for ${notReady.map((c) => c.type.replace(/Ready$/, '')).join(', ')}`,
        };
  const ready: ConditionInput =
    allReady && !degraded
      ? { type: CONDITION_READY, status: 'True', reason: 'AllComponentsReady', message: 'every component is ready' }
      : {
          type: CONDITION_READY,
          status: 'False',
          reason: degraded ? 'Degraded' : 'ComponentsNotReady',
          message: degraded
            ? degradedCond.message
            : notReady.map((c) => `${c.type.replace(/Ready$/, '')}: ${c.message}`).join('; '),
        };

  const anyChild = [observed.redis, observed.zookeeper, observed.server, observed.route].some((o) => o !== undefined);
  const phase: Phase = spec.paused
    ? 'Paused'
    : degraded
      ? 'Degraded'
      : allReady
        ? 'Running'
        : anyChild
          ? 'Provisioning'
          : 'Pending';

  return {
    observedGeneration: generation,
    phase,
    conditions: mergeConditions(
      cr.status?.conditions,
      [ready, progressing, degradedCond, ...components],
      generation,
      nowIso,
    ),
    redis: { ready: redisExternal || redis.ready, endpoint: redisEndpoint(cr) },
    zookeeper: { replicas: zk.replicas, readyReplicas: zk.readyReplicas, connectString: zookeeperConnectString(cr) },
    server: {
      replicas: server.replicas,
      readyReplicas: server.readyReplicas,
      selector: selectorString(cr, 'cim-server'),
      ...(spec.server.external ? { external: (observed.external ?? []).map((a) => ({ ...a })) } : {}),
    },
    route: { replicas: route.replicas, readyReplicas: route.readyReplicas, endpoint: routeEndpoint(cr) },
  };
}

/** Redis URL without credentials: status is readable by anyone who can read the CimCluster. */
export function redisEndpoint(cr: CimCluster): string {
  const url = redisUrl(cr);
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//');
  }
}

/**
 * The JSON merge patch (RFC 7386) that turns `current` into `next`: a merge patch only adds and replaces, so keys
 * that `next` no longer has (status.server.external after external access was removed) are sent as null.
 */
export function statusMergePatch(current: CimClusterStatus | undefined, next: CimClusterStatus): Record<string, unknown> {
  return mergePatch(current, next) as Record<string, unknown>;
}

function mergePatch(current: unknown, next: unknown): unknown {
  if (!isPlainObject(next) || !isPlainObject(current)) return next;
  const patch: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(next)) patch[k] = mergePatch(current[k], v);
  for (const k of Object.keys(current)) if (!(k in next)) patch[k] = null;
  return patch;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Deep equality on JSON form: status is plain data, and key order is the same from both sides we compare. */
export function isStatusEqual(a: CimClusterStatus | undefined, b: CimClusterStatus | undefined): boolean {
  return canonical(a ?? {}) === canonical(b ?? {});
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === 'object' && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([x], [y]) => x.localeCompare(y)))
      : val,
  );
}
