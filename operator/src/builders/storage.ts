import type { V1PersistentVolumeClaim, V1Volume } from '@kubernetes/client-node';
import type { StorageSpec } from '../api/types.ts';

/**
 * A data volume for a StatefulSet: a PersistentVolumeClaim template, or an emptyDir when `ephemeral`.
 * Switching between the two changes volumeClaimTemplates, which the API server refuses (immutable); the
 * reconciler reports that as Degraded/ImmutableFieldChanged.
 */
export function dataVolume(storage: StorageSpec, name: string) {
  const volumes: V1Volume[] = storage.ephemeral ? [{ name, emptyDir: {} }] : [];
  const claims = (claimLabels: Record<string, string>): V1PersistentVolumeClaim[] =>
    storage.ephemeral
      ? []
      : [
          {
            apiVersion: 'v1',
            kind: 'PersistentVolumeClaim',
            metadata: { name, labels: claimLabels },
            spec: {
              accessModes: ['ReadWriteOnce'],
              resources: { requests: { storage: storage.size } },
              ...(storage.storageClassName ? { storageClassName: storage.storageClassName } : {}),
            },
          },
        ];
  return { volumes, claims };
}
