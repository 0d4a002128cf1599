import type { V1Deployment, V1Service } from '@kubernetes/client-node';
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
import { CIM_UID } from './server.ts';
import { tlsPodParts } from './tls.ts';

export function routeEndpoint(cr: CimCluster): string {
  return `${cr.spec.tls ? 'https' : 'http'}://${childNames(cr).route}.${cr.metadata.namespace}.svc:${cr.spec.route.port}`;
}

/** cim-route is stateless: a Deployment behind a Service of the requested type. */
export function buildRouteDeployment(cr: CimCluster): V1Deployment {
  const r = cr.spec.route;
  const names = childNames(cr);
  const tls = tlsPodParts(cr, 'cim-route');
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: objectMeta(cr, names.route, 'cim-route'),
    spec: {
      replicas: r.replicas,
      selector: { matchLabels: selectorLabels(cr, 'cim-route') },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: {
          labels: labels(cr, 'cim-route'),
          annotations: { ...prometheusAnnotations(r.metricsPort ?? r.port), [ANNOTATION_CONFIG_HASH]: hashOf(configData(cr)) },
        },
        spec: {
          affinity: preferSpread(cr, 'cim-route'),
          securityContext: { runAsNonRoot: true, runAsUser: CIM_UID, runAsGroup: CIM_UID, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'cim-route',
              image: r.image,
              imagePullPolicy: cr.spec.imagePullPolicy,
              args: ['route'],
              envFrom: [{ configMapRef: { name: names.config } }],
              env: [
                { name: 'CIM_HOST', value: '0.0.0.0' },
                { name: 'CIM_PORT', value: String(r.port) },
                ...(r.metricsPort !== undefined ? [{ name: 'CIM_METRICS_PORT', value: String(r.metricsPort) }] : []),
                { name: 'CIM_STRATEGY', value: r.strategy },
                { name: 'CIM_LOG_LEVEL', value: r.logLevel },
                // Logins answer with the servers' external addresses (spec.server.external) instead of pod IPs.
                ...(cr.spec.server.external ? [{ name: 'CIM_ADVERTISE', value: 'external' }] : []),
                ...secretEnv(cr),
                ...tls.env,
              ],
              ports: [{ name: 'http', containerPort: r.port, protocol: 'TCP' }, ...(r.metricsPort !== undefined ? [{ name: 'metrics', containerPort: r.metricsPort, protocol: 'TCP' }] : [])],
              ...cimProbes(cr.spec.tls ? 'HTTPS' : 'HTTP'),
              securityContext: restrictedContainer(true),
              ...(r.resources ? { resources: r.resources } : {}),
              ...(tls.volumeMounts.length > 0 ? { volumeMounts: tls.volumeMounts } : {}),
            },
          ],
          ...(tls.volumes.length > 0 ? { volumes: tls.volumes } : {}),
        },
      },
    },
  };
}

export function buildRouteService(cr: CimCluster): V1Service {
  return componentService(cr, childNames(cr).route, 'cim-route', [tcpPort('http', cr.spec.route.port)], { type: cr.spec.route.service.type });
}
