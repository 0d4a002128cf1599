/**
 * Watches are unreliable: here every connection between the operator and the API server is cut, and new ones are
 * refused until the operator has noticed. The informers must restart by themselves and the operator must go on
 * reconciling, including changes made while it was cut off.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { clientsFor, deleteTestNamespace, condition, createCluster, createNamespace, getCluster, patchClusterSpec, type Clients } from './harness/kube.ts';
import { startOperator, type OperatorProcess } from './harness/operator-process.ts';
import { startTcpProxy, type TcpProxy } from './harness/tcp-proxy.ts';

const NS = 'e2e-watch';
let admin: Clients;
let proxy: TcpProxy;
let operator: OperatorProcess;
const poll = { timeout: 60_000, interval: 250 };

beforeAll(async () => {
  admin = clientsFor(inject('adminKubeconfig'));
  await createNamespace(admin, NS);
  const apiPort = Number(new URL(inject('server')).port);
  proxy = await startTcpProxy(apiPort);
  const kubeconfig = join(inject('workDir'), 'operator-via-proxy.kubeconfig');
  writeFileSync(
    kubeconfig,
    readFileSync(inject('operatorKubeconfig'), 'utf8').replace(`server: ${inject('server')}`, `server: https://127.0.0.1:${proxy.port}`),
  );
  operator = await startOperator({ kubeconfig, logDir: join(inject('workDir'), 'logs'), identity: 'operator-watch' });
});

afterAll(async () => {
  await proxy?.resume().catch(() => {});
  const code = await operator?.stop();
  await proxy?.close();
  if (admin) await deleteTestNamespace(admin, NS);
  expect(code, operator?.tail()).toBe(0);
});

const watchErrors = async () =>
  [...(await operator.metrics()).matchAll(/^cim_operator_watch_restarts_total\{resource="[a-z]+",reason="error"\} (\d+)/gm)].reduce(
    (sum, m) => sum + Number(m[1]),
    0,
  );

describe('unreliable watches', () => {
  it('restarts its watches after the connection is cut and catches up on what it missed', async () => {
    await createCluster(admin, NS, 'w', { redis: { storage: { ephemeral: true } }, zookeeper: { storage: { ephemeral: true } }, server: { replicas: 1 } });
    await expect.poll(async () => condition(await getCluster(admin, NS, 'w'), 'Ready')?.status, poll).toBe('True');
    const errorsBefore = await watchErrors();

    await proxy.cut();
    await expect.poll(watchErrors, poll).toBeGreaterThan(errorsBefore);
    // Changed while the operator cannot see anything.
    await patchClusterSpec(admin, NS, 'w', { server: { replicas: 2 } });
    await admin.core.deleteNamespacedService({ name: 'w-route', namespace: NS });
    await proxy.resume();

    await expect
      .poll(async () => (await admin.apps.readNamespacedStatefulSet({ name: 'w-server', namespace: NS })).spec?.replicas, poll)
      .toBe(2);
    await expect.poll(async () => (await admin.core.readNamespacedService({ name: 'w-route', namespace: NS }).catch(() => undefined))?.metadata?.name, poll).toBe('w-route');
    await expect.poll(async () => {
      const cr = await getCluster(admin, NS, 'w');
      return { ready: condition(cr, 'Ready')?.status, servers: cr.status?.server?.readyReplicas };
    }, poll).toEqual({ ready: 'True', servers: 2 });
    expect(/^cim_operator_leader 1$/m.test(await operator.metrics())).toBe(true);
  });
});
