import type { V1PodDisruptionBudget, V1Service, V1StatefulSet } from '@kubernetes/client-node';
import type { CimCluster } from '../api/types.ts';
import { childNames, componentService, labels, objectMeta, preferSpread, restrictedContainer, selectorLabels, tcpPort } from './common.ts';
import { dataVolume } from './storage.ts';

export const ZK_CLIENT_PORT = 2181;
export const ZK_QUORUM_PORT = 2888;
export const ZK_ELECTION_PORT = 3888;

/** Stable DNS name of ensemble member `ordinal` (through the headless Service). */
export function zookeeperMemberHost(cr: CimCluster, ordinal: number): string {
  const names = childNames(cr);
  return `${names.zookeeper}-${ordinal}.${names.zookeeperHeadless}.${cr.metadata.namespace}.svc`;
}

/** The connect string cim-server and cim-route use: every member, so the client fails over by itself. */
export function zookeeperConnectString(cr: CimCluster): string {
  const zk = cr.spec.zookeeper;
  if (zk.external) return zk.external.connectString;
  return Array.from({ length: zk.replicas }, (_, i) => `${zookeeperMemberHost(cr, i)}:${ZK_CLIENT_PORT}`).join(',');
}

/** ZOO_SERVERS for the official image: server.<myid>=<host>:2888:3888;2181, myid = ordinal + 1. */
export function zookeeperServers(cr: CimCluster): string {
  return Array.from(
    { length: cr.spec.zookeeper.replicas },
    (_, i) => `server.${i + 1}=${zookeeperMemberHost(cr, i)}:${ZK_QUORUM_PORT}:${ZK_ELECTION_PORT};${ZK_CLIENT_PORT}`,
  ).join(' ');
}

/**
 * The data directory is the volume's mount point itself: the image's entrypoint writes `$ZOO_DATA_DIR/myid` without
 * creating the directory (a subdirectory of an empty volume crash-loops with "myid: No such file or directory").
 * The transaction log lives on the same volume; ZooKeeper creates that directory itself, and the start command
 * creates it first anyway, because the entrypoint chowns it when started as root (under a custom securityContext).
 */
export const ZOO_DATA_DIR = '/data';
/**
 * Members start together and first look each other up before their pods have addresses: the election's notification
 * backoff then doubled up to its 60 s default and a fresh ensemble took a minute to form. Capped at 5 s; failed
 * lookups are not cached by the JVM, and found ones for 5 s (the cluster DNS TTL) instead of 30 s, so a follower
 * finds a replaced leader at its new address.
 */
export const ZOOKEEPER_JVMFLAGS = '-Dzookeeper.fastleader.maxNotificationInterval=5000 -Dsun.net.inetaddr.negative.ttl=1 -Dsun.net.inetaddr.ttl=5';
export const ZOO_DATA_LOG_DIR = '/data/datalog';
/**
 * A replaced member waits (at most ZOO_OWN_NAME_WAIT seconds) until its own name resolves to its new address.
 * Cluster DNS answers from a cache for a few seconds after a pod is replaced, and ZooKeeper resolves its own election
 * address once, at start, and gives the IP to every peer it dials; the leader dials back only that address. A member
 * that started on its predecessor's IP was never reached again (seen: the leader dialled the deleted pod's IP for
 * two minutes while the new member stayed LOOKING). A first boot whose name is not published in time starts anyway.
 */
export const ZOOKEEPER_AWAIT_OWN_NAME =
  'own="$HOSTNAME.$ZOO_DOMAIN"; for _ in $(seq 1 $(( ZOO_OWN_NAME_WAIT * 2 ))); do ' +
  'read -r ip _ <<< "$(getent hosts "$own")"; [ "$ip" = "$POD_IP" ] && break; sleep 0.5; done; ' +
  '[ "$ip" = "$POD_IP" ] || echo "$own does not resolve to $POD_IP yet (got ${ip:-nothing}); starting anyway" >&2';
/** Seconds a member waits for its own name (ZOOKEEPER_AWAIT_OWN_NAME): above CoreDNS's cache (30 s) and the 5 s TTL. */
export const ZOO_OWN_NAME_WAIT = 60;
/** myid = ordinal + 1: the image writes myid from ZOO_MY_ID only, never from the hostname. */
export const ZOOKEEPER_START =
  'export ZOO_MY_ID=$(( ${HOSTNAME##*-} + 1 )); mkdir -p "$ZOO_DATA_DIR" "$ZOO_DATA_LOG_DIR"; ' +
  `${ZOOKEEPER_AWAIT_OWN_NAME}; exec /docker-entrypoint.sh zkServer.sh start-foreground`;

/**
 * ZooKeeper ensemble of 1 or 3 (immutable: the member list is static, see the CRD's CEL rule).
 * The image writes myid from ZOO_MY_ID only; the command derives it from the pod's ordinal.
 */
export function buildZookeeperStatefulSet(cr: CimCluster): V1StatefulSet | undefined {
  const zk = cr.spec.zookeeper;
  if (zk.external) return undefined;
  const names = childNames(cr);
  const storage = dataVolume(zk.storage, 'data');
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: objectMeta(cr, names.zookeeper, 'zookeeper'),
    spec: {
      replicas: zk.replicas,
      serviceName: names.zookeeperHeadless,
      // Quorum needs every member anyway; ordered start would only slow the first boot.
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: selectorLabels(cr, 'zookeeper') },
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
      template: {
        metadata: { labels: labels(cr, 'zookeeper') },
        spec: {
          affinity: preferSpread(cr, 'zookeeper'),
          securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'zookeeper',
              image: zk.image,
              imagePullPolicy: cr.spec.imagePullPolicy,
              command: ['bash', '-c', ZOOKEEPER_START],
              env: [
                { name: 'ZOO_SERVERS', value: zookeeperServers(cr) },
                { name: 'ZOO_STANDALONE_ENABLED', value: zk.replicas === 1 ? 'true' : 'false' },
                // A member must not bind its own DNS name, which resolves only once its pod is published.
                { name: 'ZOO_CFG_EXTRA', value: 'quorumListenOnAllIPs=true' },
                { name: 'ZOO_4LW_COMMANDS_WHITELIST', value: 'ruok,srvr,mntr' },
                { name: 'ZOO_ADMINSERVER_ENABLED', value: 'false' },
                { name: 'ZOO_DATA_DIR', value: ZOO_DATA_DIR },
                { name: 'ZOO_DATA_LOG_DIR', value: ZOO_DATA_LOG_DIR },
                { name: 'ZOO_AUTOPURGE_PURGEINTERVAL', value: '24' },
                { name: 'ZOO_AUTOPURGE_SNAPRETAINCOUNT', value: '3' },
                { name: 'JVMFLAGS', value: ZOOKEEPER_JVMFLAGS },
                // For ZOOKEEPER_AWAIT_OWN_NAME.
                { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                { name: 'ZOO_DOMAIN', value: `${names.zookeeperHeadless}.${cr.metadata.namespace}.svc` },
                { name: 'ZOO_OWN_NAME_WAIT', value: String(ZOO_OWN_NAME_WAIT) },
              ],
              ports: [
                { name: 'client', containerPort: ZK_CLIENT_PORT, protocol: 'TCP' },
                { name: 'quorum', containerPort: ZK_QUORUM_PORT, protocol: 'TCP' },
                { name: 'election', containerPort: ZK_ELECTION_PORT, protocol: 'TCP' },
              ],
              readinessProbe: { tcpSocket: { port: 'client' }, periodSeconds: 5, failureThreshold: 3 },
              livenessProbe: { tcpSocket: { port: 'client' }, initialDelaySeconds: 15, periodSeconds: 10 },
              volumeMounts: [{ name: 'data', mountPath: ZOO_DATA_DIR }],
              securityContext: restrictedContainer(false),
              ...(zk.resources ? { resources: zk.resources } : {}),
            },
          ],
          volumes: storage.volumes,
        },
      },
      volumeClaimTemplates: storage.claims(labels(cr, 'zookeeper')),
    },
  };
}

/** Headless Service giving members stable names; published before Ready so peers can find each other. */
export function buildZookeeperHeadlessService(cr: CimCluster): V1Service | undefined {
  if (cr.spec.zookeeper.external) return undefined;
  const ports = [tcpPort('client', ZK_CLIENT_PORT), tcpPort('quorum', ZK_QUORUM_PORT), tcpPort('election', ZK_ELECTION_PORT)];
  return componentService(cr, childNames(cr).zookeeperHeadless, 'zookeeper', ports, { headless: true, publishNotReady: true });
}

export function buildZookeeperClientService(cr: CimCluster): V1Service | undefined {
  if (cr.spec.zookeeper.external) return undefined;
  return componentService(cr, childNames(cr).zookeeper, 'zookeeper', [tcpPort('client', ZK_CLIENT_PORT)]);
}

/** With 3 members one may be down voluntarily; with 1 a PDB would only block node drains. */
export function buildZookeeperPdb(cr: CimCluster): V1PodDisruptionBudget | undefined {
  if (cr.spec.zookeeper.external || cr.spec.zookeeper.replicas < 3) return undefined;
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: objectMeta(cr, childNames(cr).zookeeper, 'zookeeper'),
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(cr, 'zookeeper') } },
  };
}
