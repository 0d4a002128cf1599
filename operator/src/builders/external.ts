/**
 * External access to cim-server, one Service per pod (like Strimzi's per-broker listeners): a client outside the
 * cluster must reach the very server the route chose, so a load-balanced Service over all servers would not do.
 * The operator resolves each pod's address from what the cluster reports (allocated node ports, the node the pod
 * runs on, a load balancer's ingress) and publishes it in the ConfigMap `<name>-server-external`, one key per pod,
 * which the server pods mount and cim-server advertises in ZooKeeper. Pure: observed objects in, data out.
 */
import type { V1ConfigMap, V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import type { CimCluster, ExternalAddress } from '../api/types.ts';
import { childNames, objectMeta, selectorLabels } from './common.ts';

/** Set by the StatefulSet controller on every pod; selects exactly one server. */
export const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
/** Set by the EndpointSlice controller: the Service a slice belongs to. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** Where the server pods mount the address ConfigMap; the file is named after the pod. */
export const EXTERNAL_MOUNT_PATH = '/etc/cim/external';

export function serverPodName(cr: CimCluster, ordinal: number): string {
  return `${childNames(cr).server}-${ordinal}`;
}

export function externalServiceName(cr: CimCluster, ordinal: number): string {
  return `${serverPodName(cr, ordinal)}-external`;
}

export function externalConfigMapName(cr: CimCluster): string {
  return `${childNames(cr).server}-external`;
}

/** One NodePort/LoadBalancer Service per server pod, exposing its TCP and HTTP/WebSocket ports. */
export function buildServerExternalServices(cr: CimCluster): V1Service[] {
  const s = cr.spec.server;
  const ext = s.external;
  if (!ext) return [];
  return Array.from({ length: s.replicas }, (_, i): V1Service => {
    const fixed = ext.nodePorts?.[i];
    const meta = objectMeta(cr, externalServiceName(cr, i), 'cim-server');
    return {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: ext.annotations && Object.keys(ext.annotations).length > 0 ? { ...meta, annotations: { ...ext.annotations } } : meta,
      spec: {
        type: ext.type,
        // Cluster: any node forwards, so an advertised address stays usable while its pod moves to another node.
        externalTrafficPolicy: 'Cluster',
        selector: { ...selectorLabels(cr, 'cim-server'), [POD_NAME_LABEL]: serverPodName(cr, i) },
        ports: [
          { name: 'im', port: s.tcpPort, targetPort: 'im', protocol: 'TCP', ...(fixed?.tcp ? { nodePort: fixed.tcp } : {}) },
          { name: 'http', port: s.httpPort, targetPort: 'http', protocol: 'TCP', ...(fixed?.http ? { nodePort: fixed.http } : {}) },
        ],
      },
    };
  });
}

/** Always present when external access is on (possibly empty), so the pods' volume has a source from the start. */
export function buildExternalAddressConfigMap(cr: CimCluster, addresses: readonly ExternalAddress[]): V1ConfigMap | undefined {
  if (!cr.spec.server.external) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: objectMeta(cr, externalConfigMapName(cr), 'cim-server'),
    data: Object.fromEntries(
      addresses.map((a) => [a.pod, JSON.stringify({ host: a.host, tcpPort: a.tcpPort, httpPort: a.httpPort })]),
    ),
  };
}

/** What the cluster reports about the per-pod Services, as the reconciler reads it from its caches. */
export interface ExternalObservation {
  service(name: string): V1Service | undefined;
  /** EndpointSlices of the Service `name` (they say which node its one pod runs on). */
  endpointSlices(name: string): readonly V1EndpointSlice[];
  node(name: string): V1Node | undefined;
}

/** The node the Service's pod runs on, from its EndpointSlices (ready or not: the address is needed either way). */
export function nodeOfService(slices: readonly V1EndpointSlice[]): string | undefined {
  for (const slice of slices) for (const e of slice.endpoints ?? []) if (e.nodeName) return e.nodeName;
  return undefined;
}

/** The address clients outside the cluster use for a node: ExternalIP when it has one, else InternalIP. */
export function nodeAddress(node: V1Node | undefined): string | undefined {
  const addrs = node?.status?.addresses ?? [];
  // `||`, not `??`: an empty address (a node that reports none yet) is no address.
  return addrs.find((a) => a.type === 'ExternalIP' && a.address)?.address || addrs.find((a) => a.type === 'InternalIP' && a.address)?.address || undefined;
}

/** The node names whose addresses `resolveExternalAddresses` needs (NodePort pods without a host override). */
export function nodesToResolve(cr: CimCluster, obs: Omit<ExternalObservation, 'node'>): string[] {
  const ext = cr.spec.server.external;
  if (!ext || ext.type !== 'NodePort') return [];
  const names = new Set<string>();
  for (let i = 0; i < cr.spec.server.replicas; i++) {
    if (ext.hosts?.[i]) continue;
    const n = nodeOfService(obs.endpointSlices(externalServiceName(cr, i)));
    if (n) names.add(n);
  }
  return [...names].sort();
}

/**
 * Each pod's external address, for the pods whose address is known yet:
 * host = spec.server.external.hosts[i], else (NodePort) the address of the pod's node, else (LoadBalancer) the
 * ingress IP or hostname; ports = the allocated node ports (NodePort) or the Service ports (LoadBalancer).
 */
export function resolveExternalAddresses(cr: CimCluster, obs: ExternalObservation): ExternalAddress[] {
  const ext = cr.spec.server.external;
  if (!ext) return [];
  const out: ExternalAddress[] = [];
  for (let i = 0; i < cr.spec.server.replicas; i++) {
    const svc = obs.service(externalServiceName(cr, i));
    if (!svc || svc.spec?.type !== ext.type) continue; // not (yet) applied as wanted
    const port = (name: string) => svc.spec?.ports?.find((p) => p.name === name);
    const [im, http] = [port('im'), port('http')];
    let host = ext.hosts?.[i];
    let tcpPort: number | undefined;
    let httpPort: number | undefined;
    if (ext.type === 'NodePort') {
      host ??= nodeAddress(obs.node(nodeOfService(obs.endpointSlices(svc.metadata?.name ?? '')) ?? ''));
      [tcpPort, httpPort] = [im?.nodePort, http?.nodePort];
    } else {
      const ingress = svc.status?.loadBalancer?.ingress?.[0];
      host ??= ingress?.ip ?? ingress?.hostname;
      [tcpPort, httpPort] = [im?.port, http?.port];
    }
    if (host && tcpPort && httpPort) out.push({ pod: serverPodName(cr, i), host, tcpPort, httpPort });
  }
  return out;
}
