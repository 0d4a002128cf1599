/**
 * A real local cluster for integration tests (redis-server, N cim-servers and a cim-route as child
 * processes running the real `cim` from source), on the ZooKeeper started by global setup unless
 * another is given.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tlsFetch } from '../../services/client/src/sdk/tls-fetch.ts';
import { inject } from 'vitest';
import { startProcessCluster, type ProcessCluster, type ProcessClusterOptions, type RouteProcess, type ServerProcess } from '../../services/common/src/infra/process-cluster.ts';

export const CIM_MAIN = fileURLToPath(new URL('../../services/cli/src/main.ts', import.meta.url));

export type TestCluster = ProcessCluster;
export type ServerHandle = ServerProcess;
export type RouteHandle = RouteProcess;
export type ClusterOptions = Omit<ProcessClusterOptions, 'cim' | 'zkConnect'> & { zkConnect?: string; tls?: ClusterTls };

/** PEM files every component serves (route and servers), the CA that verifies them, and server-only TLS flags. */
export interface ClusterTls {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  /** --tls-tcp on the servers */
  readonly tcp?: boolean;
  /** --tls-name of the servers */
  readonly serverName?: string;
  /** --tls-reload-interval (seconds) of every component */
  readonly reloadIntervalSec?: number;
}

export function startCluster(options: ClusterOptions = {}): Promise<TestCluster> {
  const { tls, ...rest } = options;
  if (!tls) return startProcessCluster({ ...rest, cim: [process.execPath, CIM_MAIN], zkConnect: options.zkConnect ?? inject('zkConnect') });
  const both = ['--tls-cert', tls.certFile, '--tls-key', tls.keyFile, '--server-tls-ca', tls.caFile, '--tls-reload-interval', String(tls.reloadIntervalSec ?? 10)];
  return startProcessCluster({
    ...rest,
    cim: [process.execPath, CIM_MAIN],
    zkConnect: options.zkConnect ?? inject('zkConnect'),
    serverArgs: [...both, ...(tls.tcp ? ['--tls-tcp'] : []), ...(tls.serverName ? ['--tls-name', tls.serverName] : []), ...(rest.serverArgs ?? [])],
    routeArgs: [...both, ...(rest.routeArgs ?? [])],
    fetch: tlsFetch({ ca: readFileSync(tls.caFile), rejectUnauthorized: true }),
  });
}
