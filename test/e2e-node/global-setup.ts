/**
 * Builds (once, cached) the node tools and images, then starts the control plane and a real node for the whole
 * e2e-node project. A machine that cannot run a node fails here with what it lacks: never a silent skip.
 */
import type { TestProject } from 'vitest/node';
import { ensureNodeTools, startNodeCluster, type NodeCluster } from './harness/cluster.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    nodeAdminKubeconfig: string;
    nodeBinDir: string;
    nodeName: string;
    nodeIp: string;
    nodeInitPid: number;
    nodeLogDirs: Record<string, string>;
    nodeTimings: Record<string, number>;
  }
}

let cluster: NodeCluster | undefined;

export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = Date.now();
  const tools = ensureNodeTools();
  const toolsMs = Date.now() - t0;
  cluster = await startNodeCluster(tools);
  const timings = { toolsAndImagesMs: toolsMs, ...cluster.timings };
  project.provide('nodeAdminKubeconfig', cluster.adminKubeconfig);
  project.provide('nodeBinDir', cluster.binDir);
  project.provide('nodeName', cluster.nodeName);
  project.provide('nodeIp', cluster.nodeIp);
  project.provide('nodeInitPid', cluster.sandbox.initPid());
  project.provide('nodeLogDirs', { 'control-plane': `${cluster.controlPlane.workDir}/logs`, node: `${cluster.workDir}/logs` });
  project.provide('nodeTimings', timings);
  process.stderr.write(`e2e-node: node ${cluster.nodeName} (${cluster.nodeIp}) up; timings ${JSON.stringify(timings)}\n`);
  return async () => {
    await cluster?.stop();
    cluster = undefined;
  };
}
