/**
 * MetaStore: server discovery. Servers register themselves; routes (and servers, for group
 * messages) watch the set of live servers. Two backends: ZooKeeper (CIM's layout: ephemeral nodes
 * `{root}/{host}:{tcpPort}:{httpPort}` under a persistent root, default `/cim`) and memory.
 *
 * Guarantees:
 * - `servers()` is an immutable snapshot; listeners get each new snapshot after a change.
 * - A registration lives as long as the registering process's session: a crashed server disappears
 *   when its session ends; a server whose session expired registers again by itself.
 * - `deregister()` removes the server at once (graceful shutdown: stop being chosen before draining).
 */
import type { ServerAddress, ServerInfo, ServerNodeData } from '../server-address.ts';

export interface Registration {
  /** Publishes fresh node data (e.g. the connection count). */
  update(data: ServerNodeData): Promise<void>;
  deregister(): Promise<void>;
}

export type ServersListener = (servers: readonly ServerInfo[]) => void;

export interface MetaStore {
  /** Connects and loads the first snapshot. */
  start(): Promise<void>;
  register(address: ServerAddress, data: ServerNodeData): Promise<Registration>;
  servers(): readonly ServerInfo[];
  onChange(listener: ServersListener): () => void;
  isReady(): boolean;
  close(): Promise<void>;
}
