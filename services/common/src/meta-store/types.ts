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
  /** Event counters since start (see MetaStoreEventKind), for metrics; absent when the backend has none. */
  stats?(): Readonly<Record<MetaStoreEventKind, number>>;
  close(): Promise<void>;
}

/**
 * What a store reports to its owner's metrics (the ZooKeeper backend; the memory one has none):
 * - `connect_attempt`: a new client (a new session) is being connected; every one after the first is a reconnect
 * - `connect_timeout`: no session within the connect deadline (ZooKeeper starting, or a silent peer): client replaced
 * - `session_lost`: disconnected for longer than the session timeout (the session is as good as expired): client replaced
 * - `session_expired`: ZooKeeper said the session expired: client replaced
 * - `disconnected` / `connected`: the connection of the current client went down / came up
 * - `session_ready`: root, every registration and the watch are in place on the current session
 * - `sync_failed`: a registration, watch or read failed; retried with backoff
 */
export type MetaStoreEventKind =
  | 'connect_attempt'
  | 'connect_timeout'
  | 'session_lost'
  | 'session_expired'
  | 'disconnected'
  | 'connected'
  | 'session_ready'
  | 'sync_failed';

export const META_STORE_EVENT_KINDS: readonly MetaStoreEventKind[] = [
  'connect_attempt',
  'connect_timeout',
  'session_lost',
  'session_expired',
  'disconnected',
  'connected',
  'session_ready',
  'sync_failed',
];
