import type { V1EnvVar, V1Service, V1StatefulSet } from '@kubernetes/client-node';
import type { CimCluster } from '../api/types.ts';
import { childNames, componentService, labels, objectMeta, preferSpread, restrictedContainer, selectorLabels, tcpPort } from './common.ts';
import { REDIS_PORT, redisClusterNodes, redisPodCount } from './redis-cluster.ts';
import { dataVolume } from './storage.ts';

export { REDIS_PORT };

/** Where cim-server and cim-route find Redis: every node of a managed cluster is a seed. */
export function redisUrl(cr: CimCluster): string {
  const ext = cr.spec.redis.external;
  if (ext) return ext.url;
  if (cr.spec.redis.cluster) return `redis-cluster://${redisClusterNodes(cr).join(',')}`;
  return `redis://${childNames(cr).redis}.${cr.metadata.namespace}.svc:${REDIS_PORT}`;
}

/** Environment that hands the Redis password (when any) to a container as $(REDIS_PASSWORD). */
export function redisPasswordEnv(cr: CimCluster, name: string): V1EnvVar[] {
  const ref = cr.spec.redis.passwordSecretRef;
  return ref ? [{ name, valueFrom: { secretKeyRef: { name: ref.name, key: ref.key } } }] : [];
}

/**
 * Single-primary Redis: a StatefulSet of one, so two writers never share a volume. With spec.redis.cluster, the
 * cluster's nodes (redis-cluster.ts), each keeping its identity (nodes.conf) on its volume. Undefined when external.
 */
export function buildRedisStatefulSet(cr: CimCluster): V1StatefulSet | undefined {
  const spec = cr.spec.redis;
  if (spec.external) return undefined;
  const names = childNames(cr);
  const hasPassword = spec.passwordSecretRef !== undefined;
  const storage = dataVolume(spec.storage, 'data');
  const clustered = spec.cluster !== undefined;
  const clusterArgs = clustered
    ? [
        '--cluster-enabled', 'yes',
        '--cluster-config-file', '/data/nodes.conf',
        '--cluster-node-timeout', '5000',
        // Clients are redirected by IP, which the cluster's gossip updates within seconds of a pod coming back with
        // a new one; a name would be resolved through DNS caches that keep the old IP for up to their TTL (30 s).
        '--cluster-announce-hostname', `$(POD_NAME).${names.redis}.${cr.metadata.namespace}.svc`,
        '--cluster-preferred-endpoint-type', 'ip',
        ...(hasPassword ? ['--masterauth', '$(REDIS_PASSWORD)'] : []),
      ]
    : [];
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: objectMeta(cr, names.redis, 'redis'),
    spec: {
      replicas: redisPodCount(cr),
      serviceName: names.redis,
      // The nodes of a cluster start together: the Job that forms it waits for all of them.
      ...(clustered ? { podManagementPolicy: 'Parallel' } : {}),
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
                ...clusterArgs,
              ],
              env: [
                ...(clustered ? [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] : []),
                ...redisPasswordEnv(cr, 'REDIS_PASSWORD'),
                ...redisPasswordEnv(cr, 'REDISCLI_AUTH'),
              ],
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
  // A cluster is found through each node's own name (the URL's seeds, the Job), so the Service is headless; the
  // names exist before the nodes are ready because the Job that makes them ready needs them.
  const shape = cr.spec.redis.cluster ? { headless: true, publishNotReady: true } : {};
  return componentService(cr, childNames(cr).redis, 'redis', [tcpPort('redis', REDIS_PORT)], shape);
}
