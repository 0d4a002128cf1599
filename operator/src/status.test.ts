import type { V1Deployment, V1StatefulSet } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { mergeConditions } from './conditions.ts';
import { computeStatus, deploymentRollout, isStatusEqual, statefulSetRollout } from './status.ts';
import { makeCluster } from './testing.ts';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:01:00.000Z';

const sts = (replicas: number, ready: number, extra: Partial<NonNullable<V1StatefulSet['status']>> = {}): V1StatefulSet => ({
  metadata: { generation: 1 },
  spec: { replicas, selector: {}, serviceName: 'x', template: {} },
  status: { observedGeneration: 1, replicas, readyReplicas: ready, updatedReplicas: replicas, currentRevision: 'r1', updateRevision: 'r1', ...extra },
});
const dep = (replicas: number, ready: number): V1Deployment => ({
  metadata: { generation: 2 },
  status: { observedGeneration: 2, replicas, readyReplicas: ready, updatedReplicas: replicas, availableReplicas: ready },
});
const allReady = () => ({ redis: sts(1, 1), zookeeper: sts(1, 1), server: sts(2, 2), route: dep(1, 1) });
const cond = (s: ReturnType<typeof computeStatus>, type: string) => s.conditions?.find((c) => c.type === type);

describe('rollout readiness', () => {
  it('needs every replica ready, updated and the controller caught up', () => {
    expect(statefulSetRollout(sts(3, 3), 3).ready).toBe(true);
    expect(statefulSetRollout(sts(3, 2), 3).ready).toBe(false);
    expect(statefulSetRollout(sts(3, 3, { updateRevision: 'r2' }), 3).ready).toBe(false);
    expect(statefulSetRollout(sts(3, 3, { observedGeneration: 0 }), 3).ready).toBe(false);
    expect(statefulSetRollout(sts(3, 3), 2).ready).toBe(false);
    expect(statefulSetRollout(undefined, 1)).toMatchObject({ ready: false, message: 'not created yet' });
    expect(deploymentRollout(dep(2, 2), 2).ready).toBe(true);
    expect(deploymentRollout(dep(2, 1), 2).ready).toBe(false);
  });

  it('counts a component scaled to zero as ready', () => {
    expect(statefulSetRollout({ metadata: { generation: 1 }, status: { observedGeneration: 1, replicas: 0 } }, 0).ready).toBe(true);
  });
});

describe('computeStatus', () => {
  it('is Running and Ready when every component is ready', () => {
    const s = computeStatus(makeCluster(), allReady(), [], T0);
    expect(s.phase).toBe('Running');
    expect(s.observedGeneration).toBe(1);
    expect(cond(s, 'Ready')).toEqual({ type: 'Ready', status: 'True', observedGeneration: 1, lastTransitionTime: T0, reason: 'AllComponentsReady', message: 'every component is ready' });
    expect(cond(s, 'Progressing')?.status).toBe('False');
    expect(cond(s, 'Degraded')?.status).toBe('False');
    expect(s.server).toEqual({ replicas: 2, readyReplicas: 2, selector: 'app.kubernetes.io/name=cim,app.kubernetes.io/instance=chat,app.kubernetes.io/component=cim-server' });
  });

  it('is Provisioning and says what it waits for while components roll out', () => {
    const s = computeStatus(makeCluster(), { ...allReady(), server: sts(2, 1) }, [], T0);
    expect(s.phase).toBe('Provisioning');
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'ComponentsNotReady', message: 'Server: 1/2 ready' });
    expect(cond(s, 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingOut', message: 'waiting for Server' });
    expect(cond(s, 'ServerReady')).toMatchObject({ status: 'False', reason: 'NotReady' });
  });

  it('is Pending before any child exists', () => {
    expect(computeStatus(makeCluster(), {}, [], T0).phase).toBe('Pending');
  });

  it('is Degraded, and not Ready, when a child was refused', () => {
    const s = computeStatus(makeCluster(), allReady(), [{ reason: 'ImmutableFieldChanged', message: 'StatefulSet/chat-redis: nope' }], T0);
    expect(s.phase).toBe('Degraded');
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'ImmutableFieldChanged', message: 'StatefulSet/chat-redis: nope' });
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'Degraded' });
  });

  it('treats external Redis and ZooKeeper as ready and hides Redis credentials', () => {
    const cr = makeCluster({ redis: { external: { url: 'redis://:pw@r.example:6380' } }, zookeeper: { external: { connectString: 'z:2181' } } });
    const s = computeStatus(cr, { server: sts(2, 2), route: dep(1, 1) }, [], T0);
    expect(cond(s, 'RedisReady')).toMatchObject({ status: 'True', reason: 'External' });
    expect(cond(s, 'Ready')?.status).toBe('True');
    expect(s.redis).toEqual({ ready: true, endpoint: 'redis://r.example:6380' });
    expect(s.zookeeper?.connectString).toBe('z:2181');
  });

  it('is Paused when the spec says so', () => {
    const s = computeStatus(makeCluster({ paused: true }), allReady(), [], T0);
    expect(s.phase).toBe('Paused');
    expect(cond(s, 'Progressing')).toMatchObject({ status: 'False', reason: 'Paused' });
  });

  it('gives the same status for the same observations, so nothing is written twice', () => {
    const cr = makeCluster();
    const first = computeStatus(cr, allReady(), [], T0);
    const second = computeStatus({ ...cr, status: first }, allReady(), [], T1);
    expect(isStatusEqual(first, second)).toBe(true);
  });
});

describe('mergeConditions', () => {
  it('moves lastTransitionTime only when the status flips', () => {
    const before = mergeConditions(undefined, [{ type: 'Ready', status: 'False', reason: 'A', message: 'a' }], 1, T0);
    const same = mergeConditions(before, [{ type: 'Ready', status: 'False', reason: 'B', message: 'b' }], 2, T1);
    expect(same[0]).toMatchObject({ lastTransitionTime: T0, reason: 'B', observedGeneration: 2 });
    const flipped = mergeConditions(same, [{ type: 'Ready', status: 'True', reason: 'C', message: 'c' }], 2, T1);
    expect(flipped[0]?.lastTransitionTime).toBe(T1);
  });
});

describe('isStatusEqual', () => {
  it('ignores key order', () => {
    expect(isStatusEqual({ phase: 'Running', observedGeneration: 1 }, { observedGeneration: 1, phase: 'Running' })).toBe(true);
    expect(isStatusEqual({ phase: 'Running' }, { phase: 'Pending' })).toBe(false);
  });
});
