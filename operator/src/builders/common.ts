/**
 * Names, labels and metadata shared by every child object. Label keys are spelled once, here.
 * Everything in builders/ is pure: CimCluster in, desired objects out; no I/O, no clock, no randomness.
 */
import { createHash } from 'node:crypto';
import type { V1Container, V1ObjectMeta, V1OwnerReference, V1SecurityContext, V1Service, V1ServicePort } from '@kubernetes/client-node';
import { API_VERSION, KIND, type CimCluster } from '../api/types.ts';

export const FIELD_MANAGER = 'cim-operator';
export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_INSTANCE = 'app.kubernetes.io/instance';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_PART_OF = 'app.kubernetes.io/part-of';
export const ANNOTATION_CONFIG_HASH = 'cim.dev/config-hash';
export const APP_NAME = 'cim';
export const MANAGED_BY = 'cim-operator';
/** Child informers list/watch only objects carrying this selector. */
export const CHILD_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;

export type Component = 'redis' | 'redis-init' | 'zookeeper' | 'cim-server' | 'cim-route' | 'config' | 'auth';

export interface ChildNames {
  redis: string;
  zookeeper: string;
  zookeeperHeadless: string;
  server: string;
  serverHeadless: string;
  route: string;
  config: string;
  auth: string;
}

export function childNames(cr: CimCluster): ChildNames {
  const n = cr.metadata.name;
  return {
    redis: `${n}-redis`,
    zookeeper: `${n}-zk`,
    zookeeperHeadless: `${n}-zk-hs`,
    server: `${n}-server`,
    serverHeadless: `${n}-server-hs`,
    route: `${n}-route`,
    config: `${n}-config`,
    auth: `${n}-auth`,
  };
}

/** Labels that select a component's pods; they are part of immutable selectors, so they never change. */
export function selectorLabels(cr: CimCluster, component: Component): Record<string, string> {
  return { [LABEL_NAME]: APP_NAME, [LABEL_INSTANCE]: cr.metadata.name, [LABEL_COMPONENT]: component };
}

export function labels(cr: CimCluster, component: Component): Record<string, string> {
  return { ...selectorLabels(cr, component), [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_PART_OF]: APP_NAME };
}

export function selectorString(cr: CimCluster, component: Component): string {
  return Object.entries(selectorLabels(cr, component))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** The controller reference that makes the garbage collector delete the child with its CimCluster. */
export function ownerReference(cr: CimCluster): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: cr.metadata.name,
    uid: cr.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function objectMeta(cr: CimCluster, name: string, component: Component): V1ObjectMeta {
  return {
    name,
    namespace: cr.metadata.namespace,
    labels: labels(cr, component),
    ownerReferences: [ownerReference(cr)],
  };
}

/** Stable short hash of a value's JSON; put on pod templates so a settings change rolls the pods. */
export function hashOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

export function prometheusAnnotations(port: number): Record<string, string> {
  return { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': '/metrics' };
}

/** Spread pods of one component over nodes when possible; never blocks scheduling. */
export function preferSpread(cr: CimCluster, component: Component) {
  return {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        {
          weight: 100,
          podAffinityTerm: {
            topologyKey: 'kubernetes.io/hostname',
            labelSelector: { matchLabels: selectorLabels(cr, component) },
          },
        },
      ],
    },
  };
}

/** The restricted Pod Security Standard, container part (a fresh object per use: builders return plain data). */
export function restrictedContainer(readOnlyRootFilesystem: boolean): V1SecurityContext {
  return { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem };
}

/** Probes of cim-server and cim-route: /readyz (Redis and ZooKeeper usable, not draining), /healthz (the process answers). */
export function cimProbes(scheme: 'HTTP' | 'HTTPS' = 'HTTP'): Pick<V1Container, 'readinessProbe' | 'livenessProbe'> {
  // HTTPS with spec.tls (the kubelet does not verify the certificate); HTTP stays implicit, as before.
  const s = scheme === 'HTTPS' ? { scheme } : {};
  return {
    readinessProbe: { httpGet: { path: '/readyz', port: 'http', ...s }, periodSeconds: 5, failureThreshold: 2 },
    livenessProbe: { httpGet: { path: '/healthz', port: 'http', ...s }, initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 3 },
  };
}

/** A TCP service port that targets the container port of the same name. */
export function tcpPort(name: string, port: number): V1ServicePort {
  return { name, port, targetPort: name, protocol: 'TCP' };
}

/**
 * A Service selecting one component's pods. `headless` gives pods stable DNS names (clusterIP None);
 * `publishNotReady` publishes them before they are Ready (peers that must find each other to become so).
 */
export function componentService(
  cr: CimCluster,
  name: string,
  component: Component,
  ports: V1ServicePort[],
  shape: { readonly type?: string; readonly headless?: boolean; readonly publishNotReady?: boolean } = {},
): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: objectMeta(cr, name, component),
    spec: {
      ...(shape.headless ? { clusterIP: 'None' } : { type: shape.type ?? 'ClusterIP' }),
      ...(shape.publishNotReady ? { publishNotReadyAddresses: true } : {}),
      selector: selectorLabels(cr, component),
      ports,
    },
  };
}
