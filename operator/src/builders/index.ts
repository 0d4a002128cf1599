/**
 * The complete desired state of one CimCluster, in apply order: settings first, then the stores the services
 * depend on, then the services. Objects a spec does not want (external Redis, a 1-member ensemble's PDB) are absent;
 * the reconciler deletes such leftovers. The generated auth Secret is not here: it is created once, never applied.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { CimCluster, ExternalAddress } from '../api/types.ts';
import { buildConfigMap } from './config.ts';
import { buildExternalAddressConfigMap, buildServerExternalServices } from './external.ts';
import { buildRedisService, buildRedisStatefulSet } from './redis.ts';
import { buildRedisClusterInitJob } from './redis-cluster.ts';
import { buildRouteDeployment, buildRouteService } from './route.ts';
import { buildServerHeadlessService, buildServerPdb, buildServerStatefulSet } from './server.ts';
import {
  buildZookeeperClientService,
  buildZookeeperHeadlessService,
  buildZookeeperPdb,
  buildZookeeperStatefulSet,
} from './zookeeper.ts';

/** `external`: the servers' external addresses resolved so far (from observed state; see external.ts). */
export function buildChildren(cr: CimCluster, external: readonly ExternalAddress[] = []): KubernetesObject[] {
  const all: (KubernetesObject | undefined)[] = [
    buildConfigMap(cr),
    buildRedisService(cr),
    buildRedisStatefulSet(cr),
    buildRedisClusterInitJob(cr),
    buildZookeeperHeadlessService(cr),
    buildZookeeperClientService(cr),
    buildZookeeperPdb(cr),
    buildZookeeperStatefulSet(cr),
    buildServerHeadlessService(cr),
    buildServerPdb(cr),
    buildExternalAddressConfigMap(cr, external),
    buildServerStatefulSet(cr),
    ...buildServerExternalServices(cr),
    buildRouteService(cr),
    buildRouteDeployment(cr),
  ];
  return all.filter((o): o is KubernetesObject => o !== undefined);
}

export { buildAuthSecret, isAuthSecretGenerated } from './config.ts';
