import type { V1PodDisruptionBudget, V1Service, V1StatefulSet } from '@kubernetes/client-node';
import type { CimCluster } from '../api/types.ts';
import {
  ANNOTATION_CONFIG_HASH,
  childNames,
  componentService,
  tcpPort,
  hashOf,
  labels,
  objectMeta,
  preferSpread,
  prometheusAnnotations,
  restrictedContainer,
  selectorLabels,
  cimProbes,
} from './common.ts';
import { configData, secretEnv } from './config.ts';
import { EXTERNAL_MOUNT_PATH, externalConfigMapName } from './external.ts';
import { tlsPodParts } from './tls.ts';

/** Seconds the pod sleeps in preStop so Services/route stop selecting it before SIGTERM arrives. */
export const SERVER_PRESTOP_SECONDS = 3;
export const CIM_UID = 1000;

/**
 * cim-server: a StatefulSet (stable names, ordered one-at-a-time scale-down) behind a headless Service.
 * The pod IP is advertised in ZooKeeper; on SIGTERM the server deregisters, tells clients to reconnect and drains
 * within shutdownTimeoutSeconds, so the grace period leaves room for the preStop pause and the drain.
 */
export function buildServerStatefulSet(cr: CimCluster): V1StatefulSet {
  const s = cr.spec.server;
  const names = childNames(cr);
  const external = s.external !== undefined;
  const tls = tlsPodParts(cr, 'cim-server');
  const volumeMounts = [...(external ? [{ name: 'external-address', mountPath: EXTERNAL_MOUNT_PATH, readOnly: true }] : []), ...tls.volumeMounts];
  // optional: the pod may start before the operator has written the ConfigMap.
  const volumes = [...(external ? [{ name: 'external-address', configMap: { name: externalConfigMapName(cr), optional: true } }] : []), ...tls.volumes];
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: objectMeta(cr, names.server, 'cim-server'),
    spec: {
      replicas: s.replicas,
      serviceName: names.serverHeadless,
      podManagementPolicy: 'OrderedReady',
      selector: { matchLabels: selectorLabels(cr, 'cim-server') },
      updateStrategy: { type: 'RollingUpdate' },
      template: {
        metadata: {
          labels: labels(cr, 'cim-server'),
          annotations: { ...prometheusAnnotations(s.metricsPort ?? s.httpPort), [ANNOTATION_CONFIG_HASH]: hashOf(configData(cr)) },
        },
        spec: {
          affinity: preferSpread(cr, 'cim-server'),
          terminationGracePeriodSeconds: s.shutdownTimeoutSeconds + SERVER_PRESTOP_SECONDS + 15,
          securityContext: { runAsNonRoot: true, runAsUser: CIM_UID, runAsGroup: CIM_UID, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'cim-server',
              image: s.image,
              imagePullPolicy: cr.spec.imagePullPolicy,
              args: ['server'],
              envFrom: [{ configMapRef: { name: names.config } }],
              env: [
                { name: 'CIM_HOST', value: '0.0.0.0' },
                { name: 'CIM_TCP_PORT', value: String(s.tcpPort) },
                { name: 'CIM_HTTP_PORT', value: String(s.httpPort) },
                // Pushes from the route and the other servers: reached by pod IP (ZooKeeper), never through a client-facing Service.
                { name: 'CIM_INTERNAL_PORT', value: String(s.internalPort) },
                ...(s.metricsPort !== undefined ? [{ name: 'CIM_METRICS_PORT', value: String(s.metricsPort) }] : []),
                { name: 'CIM_ADVERTISE_HOST', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                { name: 'CIM_HEARTBEAT_TIMEOUT', value: String(s.heartbeatTimeoutSeconds) },
                { name: 'CIM_SHUTDOWN_TIMEOUT', value: String(s.shutdownTimeoutSeconds) },
                { name: 'CIM_LOG_LEVEL', value: s.logLevel },
                ...secretEnv(cr),
                // The operator writes this pod's external address under its pod name; the kubelet refreshes the file.
                ...(external
                  ? [
                      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                      { name: 'CIM_EXTERNAL_ADDRESS_FILE', value: `${EXTERNAL_MOUNT_PATH}/$(POD_NAME)` },
                    ]
                  : []),
                ...tls.env,
              ],
              ports: [
                { name: 'im', containerPort: s.tcpPort, protocol: 'TCP' },
                { name: 'http', containerPort: s.httpPort, protocol: 'TCP' },
                { name: 'internal', containerPort: s.internalPort, protocol: 'TCP' },
                ...(s.metricsPort !== undefined ? [{ name: 'metrics', containerPort: s.metricsPort, protocol: 'TCP' }] : []),
              ],
              ...cimProbes(cr.spec.tls ? 'HTTPS' : 'HTTP'),
              lifecycle: { preStop: { sleep: { seconds: SERVER_PRESTOP_SECONDS } } },
              securityContext: restrictedContainer(true),
              ...(s.resources ? { resources: s.resources } : {}),
              // Directory mounts, not subPath: only directory mounts see the kubelet's updates.
              ...(volumeMounts.length > 0 ? { volumeMounts } : {}),
            },
          ],
          ...(volumes.length > 0 ? { volumes } : {}),
        },
      },
    },
  };
}

export function buildServerHeadlessService(cr: CimCluster): V1Service {
  const s = cr.spec.server;
  // In-cluster only, so it may name the internal port; the per-pod external Services (external.ts) must not.
  return componentService(cr, childNames(cr).serverHeadless, 'cim-server', [tcpPort('im', s.tcpPort), tcpPort('http', s.httpPort), tcpPort('internal', s.internalPort)], { headless: true });
}

/** Voluntary disruptions (drains) take one server at a time, like scale-down does. */
export function buildServerPdb(cr: CimCluster): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: objectMeta(cr, childNames(cr).server, 'cim-server'),
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(cr, 'cim-server') } },
  };
}
