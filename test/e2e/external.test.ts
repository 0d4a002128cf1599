/**
 * External access (spec.server.external) and rolling updates on the real control plane with kwok: one Service per
 * server pod, addresses resolved from allocated node ports, the EndpointSlice controller's node names and the nodes'
 * addresses (a load balancer's ingress is written by hand, as a cloud controller would), published in the address
 * ConfigMap and in status, and pruned with the spec. The operator runs under the chart's RBAC: no Pods, Nodes by name.
 */
import { join } from 'node:path';
import type { KubernetesObject, V1Deployment, V1Node, V1Pod, V1Service, V1StatefulSet } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ExternalAddress } from '../../operator/src/api/types.ts';
import { clientsFor, condition, createCluster, createNamespace, deleteTestNamespace, getCluster, isNotFound, patchClusterSpec, type Clients } from './harness/kube.ts';
import { startOperator, type OperatorProcess } from './harness/operator-process.ts';
import { kubectl } from './harness/tools.ts';

const NS = 'e2e-external';
const NAME = 'edge';
let admin: Clients;
let operator: OperatorProcess;
const poll = { timeout: 60_000, interval: 250 };

beforeAll(async () => {
  admin = clientsFor(inject('adminKubeconfig'));
  await createNamespace(admin, NS);
  operator = await startOperator({ kubeconfig: inject('operatorKubeconfig'), logDir: join(inject('workDir'), 'logs'), identity: 'operator-external' });
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
const service = (name: string) => read<V1Service>('Service', 'v1', name);
const serverSts = () => read<V1StatefulSet>('StatefulSet', 'apps/v1', `${NAME}-server`);
const addressMap = async () => (await read<KubernetesObject & { data?: Record<string, string> }>('ConfigMap', 'v1', `${NAME}-server-external`))?.data;
const statusExternal = async () => (await getCluster(admin, NS, NAME)).status?.server?.external;
const externalServices = async () =>
  (await admin.core.listNamespacedService({ namespace: NS, labelSelector: `app.kubernetes.io/instance=${NAME}` })).items
    .map((s) => s.metadata?.name ?? '')
    .filter((n) => n.endsWith('-external'))
    .sort();
const ready = async () => {
  const cr = await getCluster(admin, NS, NAME);
  return { ready: condition(cr, 'Ready')?.status, caughtUp: cr.status?.observedGeneration === cr.metadata.generation };
};

/** What the operator should publish for pod `i` behind a NodePort: its node's ExternalIP, else InternalIP (global-setup gives only kwok-node-0 an ExternalIP). */
async function expectedNodePortAddress(i: number): Promise<ExternalAddress> {
  const pod: V1Pod = await admin.core.readNamespacedPod({ name: `${NAME}-server-${i}`, namespace: NS });
  const node: V1Node = await admin.core.readNode({ name: pod.spec?.nodeName ?? '' });
  const svc = await service(`${NAME}-server-${i}-external`);
  const port = (n: string) => svc?.spec?.ports?.find((p) => p.name === n)?.nodePort ?? 0;
  const addr = (type: string) => node.status?.addresses?.find((a) => a.type === type)?.address;
  const host = addr('ExternalIP') ?? addr('InternalIP') ?? '';
  return { pod: `${NAME}-server-${i}`, host, tcpPort: port('im'), httpPort: port('http') };
}

describe('external access to cim-server', () => {
  it('creates one NodePort Service per server pod with the fixed and allocated node ports', async () => {
    await createCluster(admin, NS, NAME, {
      redis: { storage: { ephemeral: true } },
      zookeeper: { storage: { ephemeral: true } },
      server: { replicas: 2, external: { type: 'NodePort', nodePorts: [{ tcp: 31211, http: 31081 }], annotations: { 'example.com/team': 'im' } } },
    });
    await expect.poll(externalServices, poll).toEqual([`${NAME}-server-0-external`, `${NAME}-server-1-external`]);
    const uid = (await getCluster(admin, NS, NAME)).metadata.uid;
    for (const i of [0, 1]) {
      const svc = await service(`${NAME}-server-${i}-external`);
      expect(svc?.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'CimCluster', name: NAME, uid, controller: true })]);
      expect(svc?.metadata?.annotations).toMatchObject({ 'example.com/team': 'im' });
      expect(svc?.spec?.type).toBe('NodePort');
      expect(svc?.spec?.selector).toMatchObject({ 'statefulset.kubernetes.io/pod-name': `${NAME}-server-${i}`, 'app.kubernetes.io/component': 'cim-server' });
      expect(svc?.spec?.ports?.map((p) => [p.name, p.port])).toEqual([['im', 11211], ['http', 8081]]);
      for (const p of svc?.spec?.ports ?? []) expect(p.nodePort).toBeGreaterThanOrEqual(30000);
    }
    expect((await service(`${NAME}-server-0-external`))?.spec?.ports?.map((p) => p.nodePort)).toEqual([31211, 31081]);

    const sts = await serverSts();
    expect(sts?.spec?.template.spec?.volumes).toEqual([
      expect.objectContaining({ name: 'external-address', configMap: expect.objectContaining({ name: `${NAME}-server-external`, optional: true }) }),
    ]);
    const env = sts?.spec?.template.spec?.containers[0]?.env ?? [];
    expect(env.find((e) => e.name === 'CIM_EXTERNAL_ADDRESS_FILE')?.value).toBe('/etc/cim/external/$(POD_NAME)');
    const route = await read<V1Deployment>('Deployment', 'apps/v1', `${NAME}-route`);
    expect(route?.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'CIM_ADVERTISE')?.value).toBe('external');
  });

  it('publishes each pod’s node address and node ports in the ConfigMap and in status', async () => {
    await expect.poll(async () => (await statusExternal())?.length, poll).toBe(2);
    const expected = [await expectedNodePortAddress(0), await expectedNodePortAddress(1)];
    expect(expected.every((a) => /^(192\.0\.2\.1[0-2]|203\.0\.113\.10)$/.test(a.host))).toBe(true);
    await expect.poll(statusExternal, poll).toEqual(expected);
    expect(await addressMap()).toEqual(
      Object.fromEntries(expected.map((a) => [a.pod, JSON.stringify({ host: a.host, tcpPort: a.tcpPort, httpPort: a.httpPort })])),
    );
    await expect.poll(ready, poll).toEqual({ ready: 'True', caughtUp: true });
  });

  it('follows scale-down: the removed pod’s Service, key and status entry go', async () => {
    await patchClusterSpec(admin, NS, NAME, { server: { replicas: 1 } });
    await expect.poll(externalServices, poll).toEqual([`${NAME}-server-0-external`]);
    await expect.poll(async () => Object.keys((await addressMap()) ?? {}), poll).toEqual([`${NAME}-server-0`]);
    await expect.poll(async () => (await statusExternal())?.map((a) => a.pod), poll).toEqual([`${NAME}-server-0`]);
  });

  it('advertises a load balancer’s ingress and the server’s ports once the load balancer reports one', async () => {
    await patchClusterSpec(admin, NS, NAME, { server: { external: { type: 'LoadBalancer', nodePorts: null } } });
    await expect.poll(async () => (await service(`${NAME}-server-0-external`))?.spec?.type, poll).toBe('LoadBalancer');
    // No cloud here: write the ingress as a load-balancer controller would.
    const r = await kubectl(inject('binDir'), inject('adminKubeconfig'), [
      'patch', '-n', NS, `service/${NAME}-server-0-external`, '--subresource=status', '--type=merge',
      '-p', JSON.stringify({ status: { loadBalancer: { ingress: [{ ip: '198.51.100.10' }] } } }),
    ]);
    expect(r.stderr).toBe('');
    const lb = { pod: `${NAME}-server-0`, host: '198.51.100.10', tcpPort: 11211, httpPort: 8081 };
    await expect.poll(statusExternal, poll).toEqual([lb]);
    expect(await addressMap()).toEqual({ [`${NAME}-server-0`]: JSON.stringify({ host: lb.host, tcpPort: lb.tcpPort, httpPort: lb.httpPort }) });

    await patchClusterSpec(admin, NS, NAME, { server: { external: { hosts: ['im0.example.com'] } } });
    await expect.poll(async () => (await statusExternal())?.[0]?.host, poll).toBe('im0.example.com');
  });

  it('prunes the Services, the ConfigMap, the mount, the route setting and the status when external is removed', async () => {
    await patchClusterSpec(admin, NS, NAME, { server: { external: null } });
    await expect.poll(externalServices, poll).toEqual([]);
    await expect.poll(addressMap, poll).toBeUndefined();
    await expect.poll(async () => (await getCluster(admin, NS, NAME)).status?.server, poll).not.toHaveProperty('external');
    await expect.poll(async () => (await serverSts())?.spec?.template.spec?.volumes, poll).toBeUndefined();
    const route = await read<V1Deployment>('Deployment', 'apps/v1', `${NAME}-route`);
    expect(route?.spec?.template.spec?.containers[0]?.env?.map((e) => e.name)).not.toContain('CIM_ADVERTISE');
    await expect.poll(ready, poll).toEqual({ ready: 'True', caughtUp: true });
  });
});

describe('rolling update of cim-server', () => {
  it('rolls every server pod to a new image, one at a time, and is Ready again', async () => {
    const before = await serverSts();
    expect(before?.spec?.updateStrategy?.type).toBe('RollingUpdate');
    expect(before?.spec?.template.spec?.containers[0]?.imagePullPolicy).toBe('IfNotPresent');
    await patchClusterSpec(admin, NS, NAME, { server: { replicas: 2 } });
    await expect.poll(ready, poll).toEqual({ ready: 'True', caughtUp: true });
    const revision = (await serverSts())?.status?.currentRevision;

    await patchClusterSpec(admin, NS, NAME, { server: { image: 'cim-server:0.2.0' } });
    await expect.poll(async () => (await serverSts())?.spec?.template.spec?.containers[0]?.image, poll).toBe('cim-server:0.2.0');
    await expect
      .poll(async () => {
        const pods = await admin.core.listNamespacedPod({ namespace: NS, labelSelector: `app.kubernetes.io/instance=${NAME},app.kubernetes.io/component=cim-server` });
        return pods.items.map((p) => `${p.metadata?.name}=${p.spec?.containers[0]?.image}`).sort();
      }, poll)
      .toEqual([`${NAME}-server-0=cim-server:0.2.0`, `${NAME}-server-1=cim-server:0.2.0`]);
    await expect.poll(ready, poll).toEqual({ ready: 'True', caughtUp: true });
    const after = await serverSts();
    expect(after?.status?.currentRevision).toBe(after?.status?.updateRevision);
    expect(after?.status?.currentRevision).not.toBe(revision);
    // The PDB lets the rollout through (it limits evictions, not the StatefulSet controller) and stays at one.
    const pdb = await read<KubernetesObject & { spec?: { maxUnavailable?: number } }>('PodDisruptionBudget', 'policy/v1', `${NAME}-server`);
    expect(pdb?.spec?.maxUnavailable).toBe(1);
  });

  it('deletes the cluster', async () => {
    await admin.custom.deleteNamespacedCustomObject({ group: 'cim.dev', version: 'v1alpha1', plural: 'cimclusters', namespace: NS, name: NAME });
    await expect.poll(externalServices, { timeout: 90_000, interval: 500 }).toEqual([]);
  });
});
