/**
 * This process's own server nodes in ZkMetaStore: ephemeral nodes created on each session (replacing one a
 * previous process with the same address left behind) and rewritten when their data changes.
 */
import zookeeper from 'node-zookeeper-client';
import type { Logger } from '../log.ts';
import type { ServerAddress, ServerNodeData } from '../server-address.ts';
import { codeOf, type ZkOps } from './zk-ops.ts';

const { Exception } = zookeeper;

export interface Owned {
  readonly address: ServerAddress;
  data: ServerNodeData;
  /** the client epoch whose session holds the node; another value means it must be created */
  createdEpoch: number;
  /** data changed since it was last written */
  dirty: boolean;
}

/**
 * Brings the node `root/id` of `entry` up to date on the session of `epoch`: creates it there, or writes changed data.
 * `stillOwned` is asked after a create: a registration withdrawn meanwhile has its new node removed.
 */
export async function syncRegistration(ops: ZkOps, epoch: number, root: string, id: string, entry: Owned, stillOwned: () => boolean, log: Logger): Promise<void> {
  const path = `${root}/${id}`;
  if (entry.createdEpoch !== epoch) {
    entry.dirty = false;
    try {
      await createNode(ops, path, Buffer.from(JSON.stringify(entry.data)));
    } catch (err) {
      entry.dirty = true;
      throw err;
    }
    if (!stillOwned()) {
      await ops.remove(path).catch(() => undefined); // deregistered meanwhile
      return;
    }
    entry.createdEpoch = epoch;
    log.info({ server: id, root }, 'registered in zookeeper');
  } else if (entry.dirty) {
    entry.dirty = false;
    try {
      await ops.setData(path, Buffer.from(JSON.stringify(entry.data)));
    } catch (err) {
      entry.dirty = true;
      if (codeOf(err) === Exception.NO_NODE) entry.createdEpoch = -1; // removed behind our back: create it again
      throw err;
    }
  }
}

async function createNode(ops: ZkOps, path: string, body: Buffer): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const err = await ops.createEphemeral(path, body).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!err) return;
    if (codeOf(err) !== Exception.NODE_EXISTS) throw err;
    // Ours (a retried create that had landed) or left by a previous process with the same address
    // whose session has not expired yet (a restarted pod): keep ours, replace theirs.
    const stat = await ops.exists(path);
    if (stat && Buffer.compare(stat.ephemeralOwner, ops.client.getSessionId()) === 0) return ops.setData(path, body);
    await ops.remove(path).catch((e: unknown) => {
      if (codeOf(e) !== Exception.NO_NODE) throw e;
    });
  }
  throw new Error(`could not register ${path}`);
}
