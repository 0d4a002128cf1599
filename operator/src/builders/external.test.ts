import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { ServerExternalSpec } from '../api/types.ts';
import { makeCluster } from '../testing.ts';
import { buildChildren } from './index.ts';
import {
  buildExternalAddressConfigMap,
  buildServerExternalServices,
  nodeAddress,
  nodesToResolve,
  resolveExternalAddresses,
  type ExternalObservation,
} from './external.ts';
import { buildRouteDeployment } from './route.ts';
import { buildServerStatefulSet } from './server.ts';

const cluster = (external: ServerExternalSpec, replicas = 2) => makeCluster({ server: { replicas, external } });
const env = (c: { env?: { name: string; value?: string; valueFrom?: unknown }[] } | undefined) =>
  Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

/** A per-pod Service as the API server returns it: node ports allocated, maybe a load balancer's ingress. */
function live(svc: V1Service, nodePorts: [number, number], ingress?: { ip?: string; hostname?: string }): V1Service {
  const ports = svc.spec!.ports!.map((p, i) => ({ ...p, nodePort: p.nodePort ?? nodePorts[i] }));
  return { ...svc, spec: { ...svc.spec, ports }, ...(ingress ? { status: { loadBalancer: { ingress: [ingress] } } } : {}) };
}
const slice = (service: string, nodeName: string | undefined): V1EndpointSlice => ({
  addressType: 'IPv4',
  metadata: { name: `${service}-abcde`, labels: { 'kubernetes.io/service-name': service } },
  endpoints: [{ addresses: ['10.244.0.9'], conditions: { ready: false }, ...(nodeName ? { nodeName } : {}) }],
});
const node = (name: string, addresses: [string, string][]): V1Node => ({
  metadata: { name },
  status: { addresses: addresses.map(([type, address]) => ({ type, address })) },
});

function observe(services: V1Service[], slices: V1EndpointSlice[], nodes: V1Node[]): ExternalObservation {
  return {
    service: (n) => services.find((s) => s.metadata?.name === n),
    endpointSlices: (n) => slices.filter((s) => s.metadata?.labels?.['kubernetes.io/service-name'] === n),
    node: (n) => nodes.find((x) => x.metadata?.name === n),
  };
}

describe('per-pod external Services', () => {
  it('builds one Service per server pod, selecting exactly that pod, exposing TCP and HTTP', () => {
    const svcs = buildServerExternalServices(cluster({ type: 'NodePort', nodePorts: [{ tcp: 31000 }], annotations: { a: 'b' } }));
    expect(svcs.map((s) => s.metadata?.name)).toEqual(['chat-server-0-external', 'chat-server-1-external']);
    expect(svcs[0]?.metadata?.annotations).toEqual({ a: 'b' });
    expect(svcs[0]?.spec).toEqual({
      type: 'NodePort',
      externalTrafficPolicy: 'Cluster',
      selector: {
        'app.kubernetes.io/name': 'cim',
        'app.kubernetes.io/instance': 'chat',
        'app.kubernetes.io/component': 'cim-server',
        'statefulset.kubernetes.io/pod-name': 'chat-server-0',
      },
      ports: [
        { name: 'im', port: 11211, targetPort: 'im', protocol: 'TCP', nodePort: 31000 },
        { name: 'http', port: 8081, targetPort: 'http', protocol: 'TCP' },
      ],
    });
    expect(svcs[1]?.spec?.ports?.every((p) => p.nodePort === undefined)).toBe(true);
    expect(buildServerExternalServices(cluster({ type: 'LoadBalancer' }, 3)).map((s) => s.spec?.type)).toEqual(['LoadBalancer', 'LoadBalancer', 'LoadBalancer']);
  });

  it('adds the Services and the address ConfigMap to the children only when external access is on', () => {
    const names = (cr = makeCluster()) => buildChildren(cr).map((o) => `${o.kind}/${o.metadata?.name}`);
    expect(names().filter((n) => n.includes('external'))).toEqual([]);
    expect(names(cluster({ type: 'NodePort' })).filter((n) => n.includes('external'))).toEqual([
      'ConfigMap/chat-server-external',
      'Service/chat-server-0-external',
      'Service/chat-server-1-external',
    ]);
  });

  it('mounts the address ConfigMap into the servers and names each pod its file; the route advertises external', () => {
    const off = buildServerStatefulSet(makeCluster());
    expect(off.spec?.template.spec?.volumes).toBeUndefined();
    expect(env(off.spec?.template.spec?.containers[0])).not.toHaveProperty('CIM_EXTERNAL_ADDRESS_FILE');
    expect(env(buildRouteDeployment(makeCluster()).spec?.template.spec?.containers[0])).not.toHaveProperty('CIM_ADVERTISE');

    const cr = cluster({ type: 'NodePort' });
    const pod = buildServerStatefulSet(cr).spec?.template.spec;
    expect(pod?.volumes).toEqual([{ name: 'external-address', configMap: { name: 'chat-server-external', optional: true } }]);
    const c = pod?.containers[0];
    expect(c?.volumeMounts).toEqual([{ name: 'external-address', mountPath: '/etc/cim/external', readOnly: true }]);
    const e = env(c);
    expect(e['POD_NAME']).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(e['CIM_EXTERNAL_ADDRESS_FILE']).toBe('/etc/cim/external/$(POD_NAME)');
    // $(POD_NAME) expands only from variables defined before it.
    const names = (c?.env ?? []).map((x) => x.name);
    expect(names.indexOf('POD_NAME')).toBeLessThan(names.indexOf('CIM_EXTERNAL_ADDRESS_FILE'));
    expect(env(buildRouteDeployment(cr).spec?.template.spec?.containers[0])['CIM_ADVERTISE']).toBe('external');
  });

  it('writes one JSON key per pod into the ConfigMap', () => {
    const cm = buildExternalAddressConfigMap(cluster({ type: 'NodePort' }), [{ pod: 'chat-server-0', host: 'h', tcpPort: 1, httpPort: 2 }]);
    expect(cm?.data).toEqual({ 'chat-server-0': '{"host":"h","tcpPort":1,"httpPort":2}' });
    expect(buildExternalAddressConfigMap(cluster({ type: 'NodePort' }), [])?.data).toEqual({});
    expect(buildExternalAddressConfigMap(makeCluster(), [])).toBeUndefined();
  });
});

describe('resolveExternalAddresses', () => {
  it('NodePort: the address of the pod’s node (ExternalIP, else InternalIP) and the allocated node ports', () => {
    const cr = cluster({ type: 'NodePort' }, 3);
    const [s0, s1, s2] = buildServerExternalServices(cr) as [V1Service, V1Service, V1Service];
    const obs = observe(
      [live(s0, [30001, 30002]), live(s1, [30011, 30012]), live(s2, [30021, 30022])],
      [slice('chat-server-0-external', 'n0'), slice('chat-server-1-external', 'n1'), slice('chat-server-2-external', undefined)],
      [node('n0', [['InternalIP', '10.0.0.1'], ['ExternalIP', '203.0.113.1']]), node('n1', [['Hostname', 'n1'], ['InternalIP', '10.0.0.2']])],
    );
    expect(nodesToResolve(cr, obs)).toEqual(['n0', 'n1']);
    // Pod 2 is not scheduled yet: no address, rather than a wrong one.
    expect(resolveExternalAddresses(cr, obs)).toEqual([
      { pod: 'chat-server-0', host: '203.0.113.1', tcpPort: 30001, httpPort: 30002 },
      { pod: 'chat-server-1', host: '10.0.0.2', tcpPort: 30011, httpPort: 30012 },
    ]);
  });

  it('prefers spec hosts over node addresses, and needs no node then', () => {
    const cr = cluster({ type: 'NodePort', hosts: ['im0.example.com'] });
    const [s0, s1] = buildServerExternalServices(cr) as [V1Service, V1Service];
    const obs = observe([live(s0, [30001, 30002]), live(s1, [30011, 30012])], [slice('chat-server-1-external', 'n1')], [node('n1', [['InternalIP', '10.0.0.2']])]);
    expect(nodesToResolve(cr, obs)).toEqual(['n1']);
    expect(resolveExternalAddresses(cr, obs)).toEqual([
      { pod: 'chat-server-0', host: 'im0.example.com', tcpPort: 30001, httpPort: 30002 },
      { pod: 'chat-server-1', host: '10.0.0.2', tcpPort: 30011, httpPort: 30012 },
    ]);
  });

  it('LoadBalancer: the ingress IP or hostname and the server’s own ports, once the load balancer reports one', () => {
    const cr = cluster({ type: 'LoadBalancer' }, 3);
    const [s0, s1, s2] = buildServerExternalServices(cr) as [V1Service, V1Service, V1Service];
    const obs = observe([live(s0, [1, 2], { ip: '198.51.100.4' }), live(s1, [3, 4], { hostname: 'lb-1.example.net' }), live(s2, [5, 6])], [], []);
    expect(nodesToResolve(cr, obs)).toEqual([]);
    expect(resolveExternalAddresses(cr, obs)).toEqual([
      { pod: 'chat-server-0', host: '198.51.100.4', tcpPort: 11211, httpPort: 8081 },
      { pod: 'chat-server-1', host: 'lb-1.example.net', tcpPort: 11211, httpPort: 8081 },
    ]);
  });

  it('ignores a Service not yet applied with the wanted type, and everything when external access is off', () => {
    const cr = cluster({ type: 'LoadBalancer' }, 1);
    const [s0] = buildServerExternalServices(cluster({ type: 'NodePort' }, 1)) as [V1Service];
    expect(resolveExternalAddresses(cr, observe([live(s0, [1, 2], { ip: '198.51.100.4' })], [], []))).toEqual([]);
    expect(resolveExternalAddresses(makeCluster(), observe([], [], []))).toEqual([]);
  });

  it('reads node addresses defensively', () => {
    expect(nodeAddress(undefined)).toBeUndefined();
    expect(nodeAddress(node('n', [['Hostname', 'n']]))).toBeUndefined();
    expect(nodeAddress(node('n', [['ExternalIP', ''], ['InternalIP', '']]))).toBeUndefined();
    expect(nodeAddress(node('n', [['ExternalIP', ''], ['InternalIP', '10.0.0.1']]))).toBe('10.0.0.1');
  });
});
