/**
 * Integration tier: one standalone ZooKeeper for every test file (each cluster uses its own root
 * node, so files run in parallel). Redis is cheap to start (~30 ms): each cluster starts its own.
 */
import type { TestProject } from 'vitest/node';
import { startZooKeeper, type ZooKeeperInstance } from '../../services/common/src/infra/zookeeper.ts';

let zk: ZooKeeperInstance | undefined;

export async function setup(project: TestProject): Promise<void> {
  zk = await startZooKeeper({ nodes: 1, tickTime: 500 });
  project.provide('zkConnect', zk.connect);
}

export async function teardown(): Promise<void> {
  await zk?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    zkConnect: string;
  }
}
