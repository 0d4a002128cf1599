/**
 * spec.tls: a kubernetes.io/tls Secret (tls.crt, tls.key, and ca.crt as cert-manager writes it) mounted
 * read-only into cim-server and cim-route pods. A directory mount, not subPath: only directory mounts see
 * the kubelet's in-place updates, which the components pick up without a restart (services/common/src/tls.ts).
 */
import type { V1EnvVar, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { CimCluster } from '../api/types.ts';
import { childNames } from './common.ts';

export const TLS_MOUNT_PATH = '/etc/cim/tls';
const VOLUME = 'tls';

/** The name servers publish and everyone verifies (their pod IPs are rarely in a certificate): the headless Service's. */
export function serverTlsName(cr: CimCluster): string {
  return `${childNames(cr).serverHeadless}.${cr.metadata.namespace}.svc`;
}

/** What a TLS-serving pod gets: its certificate's env, the mount and the volume; nothing without spec.tls. */
export function tlsPodParts(cr: CimCluster, component: 'cim-server' | 'cim-route'): { env: V1EnvVar[]; volumeMounts: V1VolumeMount[]; volumes: V1Volume[] } {
  const tls = cr.spec.tls;
  if (!tls) return { env: [], volumeMounts: [], volumes: [] };
  const env: V1EnvVar[] = [
    { name: 'CIM_TLS_CERT', value: `${TLS_MOUNT_PATH}/tls.crt` },
    { name: 'CIM_TLS_KEY', value: `${TLS_MOUNT_PATH}/tls.key` },
    // Servers are verified with the Secret's ca.crt (a private issuer), else with the system CAs (a public one).
    ...(tls.caInSecret ? [{ name: 'CIM_SERVER_TLS_CA', value: `${TLS_MOUNT_PATH}/ca.crt` }] : []),
    ...(component === 'cim-server' ? [{ name: 'CIM_TLS_NAME', value: serverTlsName(cr) }] : []),
  ];
  return {
    env,
    volumeMounts: [{ name: VOLUME, mountPath: TLS_MOUNT_PATH, readOnly: true }],
    volumes: [{ name: VOLUME, secret: { secretName: tls.secretName } }],
  };
}
