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
export const ZOOKEEPER_JVMFLAGS = '-Dzookeeper.fastleader.maxNotificationInterval=5000 -Dsun.net.inetaddr.negative.ttl=1';
export const ZOO_DATA_LOG_DIR = '/data/datalog';
/** myid = ordinal + 1: the image writes myid from ZOO_MY_ID only, never from the hostname. */
export const ZOOKEEPER_START =
  'export ZOO_MY_ID=$(( ${HOSTNAME##*-} + 1 )); mkdir -p "$ZOO_DATA_DIR" "$ZOO_DATA_LOG_DIR"; exec /docker-entrypoint.sh zkServer.sh start-foreground';

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
                // Members start together and first look each other up before their pods have addresses: the
                // election's notification backoff then doubled up to its 60 s default and a fresh ensemble took a
                // minute to form. Capped at 5 s, and failed lookups are not cached by the JVM for 10 s.
                { name: 'JVMFLAGS', value: ZOOKEEPER_JVMFLAGS },
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
