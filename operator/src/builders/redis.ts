import type { V1EnvVar, V1Service, V1StatefulSet } from '@kubernetes/client-node';
import type { CimCluster } from '../api/types.ts';
import { childNames, componentService, labels, objectMeta, preferSpread, restrictedContainer, selectorLabels, tcpPort } from './common.ts';
import { dataVolume } from './storage.ts';

export const REDIS_PORT = 6379;

/** Where cim-server and cim-route find Redis. */
export function redisUrl(cr: CimCluster): string {
  const ext = cr.spec.redis.external;
  if (ext) return ext.url;
  return `redis://${childNames(cr).redis}.${cr.metadata.namespace}.svc:${REDIS_PORT}`;
}

/** Environment that hands the Redis password (when any) to a container as $(REDIS_PASSWORD). */
export function redisPasswordEnv(cr: CimCluster, name: string): V1EnvVar[] {
  const ref = cr.spec.redis.passwordSecretRef;
  return ref ? [{ name, valueFrom: { secretKeyRef: { name: ref.name, key: ref.key } } }] : [];
}

/** Single-primary Redis: a StatefulSet of one, so two writers never share a volume. Undefined when external. */
export function buildRedisStatefulSet(cr: CimCluster): V1StatefulSet | undefined {
  const spec = cr.spec.redis;
  if (spec.external) return undefined;
  const names = childNames(cr);
  const hasPassword = spec.passwordSecretRef !== undefined;
  const storage = dataVolume(spec.storage, 'data');
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: objectMeta(cr, names.redis, 'redis'),
    spec: {
      replicas: 1,
      serviceName: names.redis,
      selector: { matchLabels: selectorLabels(cr, 'redis') },
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
      template: {
        metadata: { labels: labels(cr, 'redis') },
        spec: {
          affinity: preferSpread(cr, 'redis'),
          securityContext: { runAsNonRoot: true, runAsUser: 999, runAsGroup: 999, fsGroup: 999, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'redis',
              image: spec.image,
              imagePullPolicy: cr.spec.imagePullPolicy,
              args: [
                'redis-server',
                '--appendonly', 'yes',
                '--appendfsync', 'everysec',
                '--dir', '/data',
                ...(hasPassword ? ['--requirepass', '$(REDIS_PASSWORD)'] : []),
              ],
              env: [...redisPasswordEnv(cr, 'REDIS_PASSWORD'), ...redisPasswordEnv(cr, 'REDISCLI_AUTH')],
              ports: [{ name: 'redis', containerPort: REDIS_PORT, protocol: 'TCP' }],
              readinessProbe: { tcpSocket: { port: 'redis' }, periodSeconds: 5, failureThreshold: 3 },
              livenessProbe: { tcpSocket: { port: 'redis' }, initialDelaySeconds: 10, periodSeconds: 10 },
              volumeMounts: [{ name: 'data', mountPath: '/data' }],
              securityContext: restrictedContainer(false),
              ...(spec.resources ? { resources: spec.resources } : {}),
            },
          ],
          volumes: storage.volumes,
        },
      },
      volumeClaimTemplates: storage.claims(labels(cr, 'redis')),
    },
  };
}

export function buildRedisService(cr: CimCluster): V1Service | undefined {
  if (cr.spec.redis.external) return undefined;
  return componentService(cr, childNames(cr).redis, 'redis', [tcpPort('redis', REDIS_PORT)]);
}
