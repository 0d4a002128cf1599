/** Two operator replicas: one leader through the Lease, and the standby takes over when the leader stops or dies. */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { OPERATOR_NAMESPACE } from './harness/control-plane.ts';
import { clientsFor, deleteTestNamespace, condition, createCluster, createNamespace, getCluster, patchClusterSpec, type Clients } from './harness/kube.ts';
import { startOperator, type OperatorProcess } from './harness/operator-process.ts';
import { RELEASE } from './harness/tools.ts';

const NS = 'e2e-leader';
let admin: Clients;
const operators: OperatorProcess[] = [];
const poll = { timeout: 60_000, interval: 200 };

const start = async (identity: string) => {
  const op = await startOperator({ kubeconfig: inject('operatorKubeconfig'), logDir: join(inject('workDir'), 'logs'), identity });
  operators.push(op);
  return op;
};
const holder = async () =>
  (await admin.coordination.readNamespacedLease({ name: RELEASE, namespace: OPERATOR_NAMESPACE })).spec?.holderIdentity;
const isLeader = async (op: OperatorProcess) => /^cim_operator_leader 1$/m.test(await op.metrics());
const serverReplicas = async () =>
  (await admin.apps.readNamespacedStatefulSet({ name: 'lead-server', namespace: NS }).catch(() => undefined))?.spec?.replicas;

beforeAll(async () => {
  admin = clientsFor(inject('adminKubeconfig'));
  await createNamespace(admin, NS);
});

afterAll(async () => {
  for (const op of operators) await op.kill();
  if (admin) await deleteTestNamespace(admin, NS);
});

describe('leader election', () => {
  it('elects exactly one of two replicas, and the standby takes over when the leader stops', async () => {
    const [a, b] = [await start('replica-a'), await start('replica-b')];
    await expect.poll(holder, poll).toMatch(/^replica-[ab]$/);
    const leaderId = await holder();
    const [leader, standby] = leaderId === 'replica-a' ? [a, b] : [b, a];
    await expect.poll(() => isLeader(leader), poll).toBe(true);
    expect(await isLeader(standby)).toBe(false);
    expect((await fetch(`http://127.0.0.1:${standby.httpPort}/readyz`)).status).toBe(200);

    await createCluster(admin, NS, 'lead', {
      redis: { storage: { ephemeral: true } },
      zookeeper: { storage: { ephemeral: true } },
      server: { replicas: 1 },
    });
    await expect.poll(async () => condition(await getCluster(admin, NS, 'lead'), 'Ready')?.status, poll).toBe('True');
    // Only the leader reconciles.
    expect(standby.logLines().some((l) => l['msg'] === 'controller started')).toBe(false);

    // SIGTERM: the leader stops its workers, releases the Lease and exits 0; the standby takes over at once.
    expect(await leader.stop()).toBe(0);
    expect(leader.logLines().some((l) => l['msg'] === 'leader lease released')).toBe(true);
    await expect.poll(holder, poll).toBe(standby.identity);
    await expect.poll(() => isLeader(standby), poll).toBe(true);
    await patchClusterSpec(admin, NS, 'lead', { server: { replicas: 2 } });
    await expect.poll(serverReplicas, poll).toBe(2);
  });

  it('takes over after the Lease expires when the leader dies without releasing it', async () => {
    const leader = operators.find((op) => op.exitCode() === undefined);
    expect(leader).toBeDefined();
    expect(await holder()).toBe(leader!.identity);
    const successor = await start('replica-c');
    expect(await isLeader(successor)).toBe(false);

    await leader!.kill();
    await expect.poll(holder, poll).toBe('replica-c');
    await expect.poll(() => isLeader(successor), poll).toBe(true);
    await patchClusterSpec(admin, NS, 'lead', { server: { replicas: 3 } });
    await expect.poll(serverReplicas, poll).toBe(3);
    const lease = await admin.coordination.readNamespacedLease({ name: RELEASE, namespace: OPERATOR_NAMESPACE });
    expect(lease.spec?.leaseTransitions).toBeGreaterThanOrEqual(2);
    expect(await successor.stop()).toBe(0);
  });
});
