/** Fixtures for the operator's unit tests (not used at run time). */
import { API_VERSION, KIND, withDefaults, type CimCluster, type CimClusterSpecInput } from './api/types.ts';

export function makeCluster(spec: CimClusterSpecInput = {}, meta: Partial<CimCluster['metadata']> = {}): CimCluster {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name: 'chat', namespace: 'im', uid: 'uid-1', generation: 1, ...meta },
    spec: withDefaults(spec),
  };
}
