/**
 * A managed Redis Cluster (spec.redis.cluster): the Redis StatefulSet runs shards × (1 + replicasPerShard) pods in
 * cluster mode (redis.ts), each announcing its stable DNS name, and a Job forms the cluster once. The Job is
 * created once and never updated (a Job's pod template is immutable); its script is idempotent, so a rerun, or
 * a cluster already formed, changes nothing.
 */
import type { V1Job } from '@kubernetes/client-node';
import type { CimCluster } from '../api/types.ts';
import { childNames, labels, objectMeta, restrictedContainer } from './common.ts';

export const REDIS_PORT = 6379;

/**
 * Forms the cluster from $REDIS_NODES (host:port of every node, primaries first) with $REDIS_REPLICAS replicas per
 * primary. CLUSTER MEET takes IP addresses only, so names are resolved here. Clients find the cluster through the
 * names (the URL's seeds) and are then redirected by IP, which gossip keeps current across pod restarts. Only a fresh first node (no other node known, no slot) gets a
 * `--cluster create`: a cluster formed before, even in part, is never undone here (it may hold data); the script
 * waits for it to be whole and fails otherwise, for `redis-cli --cluster fix` by hand. Polls with `sleep 1`: this
 * runs in a pod, waiting for others to start.
 */
export const REDIS_CLUSTER_INIT_SCRIPT = `set -eu
first=\${REDIS_NODES%% *}
cli() { hp=$1; shift; redis-cli -h "\${hp%:*}" -p "\${hp##*:}" "$@"; }
info() { cli "$first" cluster info | tr -d '\\r' | sed -n "s/^$1://p"; }
ip_of() { case "\${1%:*}" in *[!0-9.]*) getent hosts "\${1%:*}" | awk '{print $1; exit}';; *) echo "\${1%:*}";; esac; }
for n in $REDIS_NODES; do
  i=0
  until [ "$(cli "$n" ping 2>/dev/null)" = PONG ]; do
    i=$((i + 1)); [ "$i" -lt 600 ] || { echo "no answer from $n"; exit 1; }; sleep 1
  done
done
if [ "$(info cluster_state)" = ok ]; then echo "cluster already formed"; exit 0; fi
if [ "$(info cluster_known_nodes)" = 1 ] && [ "$(info cluster_slots_assigned)" = 0 ]; then
  addrs=""
  for n in $REDIS_NODES; do
    ip=$(ip_of "$n"); [ -n "$ip" ] || { echo "cannot resolve $n"; exit 1; }
    addrs="$addrs $ip:\${n##*:}"
  done
  redis-cli --cluster create $addrs --cluster-replicas "$REDIS_REPLICAS" --cluster-yes
else
  # Formed before, or in part: never undone here (it may hold data); wait for it to be whole again.
  echo "cluster formed before, state $(info cluster_state); waiting for ok (else: redis-cli --cluster fix)"
fi
i=0
until [ "$(info cluster_state)" = ok ]; do
  i=$((i + 1)); [ "$i" -lt "\${REDIS_WAIT_SECONDS:-120}" ] || { echo "cluster state not ok"; exit 1; }; sleep 1
done
echo "cluster formed: $(info cluster_known_nodes) nodes"
`;

/** Pods of the Redis StatefulSet: 1, or shards × (1 + replicasPerShard). */
export function redisPodCount(cr: CimCluster): number {
  const c = cr.spec.redis.cluster;
  return c ? c.shards * (1 + c.replicasPerShard) : 1;
}

/** host:port of every cluster node: the pods' names under the headless Redis Service. */
export function redisClusterNodes(cr: CimCluster): string[] {
  const { redis } = childNames(cr);
  return Array.from({ length: redisPodCount(cr) }, (_, i) => `${redis}-${i}.${redis}.${cr.metadata.namespace}.svc:${REDIS_PORT}`);
}

export function redisClusterInitJobName(cr: CimCluster): string {
  return `${childNames(cr).redis}-cluster-init`;
}

/** The Job that forms the cluster; undefined without spec.redis.cluster. */
export function buildRedisClusterInitJob(cr: CimCluster): V1Job | undefined {
  const spec = cr.spec.redis;
  if (!spec.cluster || spec.external) return undefined;
  const ref = spec.passwordSecretRef;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: objectMeta(cr, redisClusterInitJobName(cr), 'redis-init'),
    spec: {
      backoffLimit: 20,
      template: {
        metadata: { labels: labels(cr, 'redis-init') },
        spec: {
          restartPolicy: 'Never',
          securityContext: { runAsNonRoot: true, runAsUser: 999, runAsGroup: 999, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'cluster-init',
              image: spec.image,
              imagePullPolicy: cr.spec.imagePullPolicy,
              command: ['sh', '-c', REDIS_CLUSTER_INIT_SCRIPT],
              env: [
                { name: 'REDIS_NODES', value: redisClusterNodes(cr).join(' ') },
                { name: 'REDIS_REPLICAS', value: String(spec.cluster.replicasPerShard) },
                ...(ref ? [{ name: 'REDISCLI_AUTH', valueFrom: { secretKeyRef: { name: ref.name, key: ref.key } } }] : []),
              ],
              securityContext: restrictedContainer(true),
            },
          ],
        },
      },
    },
  };
}
