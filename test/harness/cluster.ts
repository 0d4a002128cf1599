/**
 * A real local cluster for integration tests (redis-server, N cim-servers and a cim-route as child
 * processes running the real `cim` from source), on the ZooKeeper started by global setup unless
 * another is given.
 */
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { startProcessCluster, type ProcessCluster, type ProcessClusterOptions, type RouteProcess, type ServerProcess } from '../../services/common/src/infra/process-cluster.ts';

export const CIM_MAIN = fileURLToPath(new URL('../../services/cli/src/main.ts', import.meta.url));

export type TestCluster = ProcessCluster;
export type ServerHandle = ServerProcess;
export type RouteHandle = RouteProcess;
export type ClusterOptions = Omit<ProcessClusterOptions, 'cim' | 'zkConnect'> & { zkConnect?: string };

export function startCluster(options: ClusterOptions = {}): Promise<TestCluster> {
  return startProcessCluster({ ...options, cim: [process.execPath, CIM_MAIN], zkConnect: options.zkConnect ?? inject('zkConnect') });
}
