import zookeeper, { type Client, type Event, type Stat } from 'node-zookeeper-client';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import {
  formatServerAddress,
  parseServerNodeData,
  serverInfo,
  type ServerAddress,
  type ServerInfo,
  type ServerNodeData,
} from '../server-address.ts';
import type { MetaStore, Registration, ServersListener } from './types.ts';

export interface ZkMetaStoreOptions {
  /** host:port[,host:port…][/chroot] */
  readonly connect: string;
  /** persistent parent of the server nodes; CIM uses /cim */
  readonly root: string;
  readonly sessionTimeoutMs: number;
  /** how long start() waits for the first connection before returning (the store keeps trying) */
  readonly startTimeoutMs?: number;
  readonly log?: Logger;
}

const { CreateMode, Exception } = zookeeper;

function codeOf(err: unknown): number | undefined {
  return err && typeof (err as { getCode?: unknown }).getCode === 'function' ? (err as { getCode(): number }).getCode() : undefined;
}

/**
 * MetaStore on ZooKeeper, CIM's layout. One client session; when the session expires a new client
 * is created, owned registrations are re-created and the watch is re-armed.
 */
export class ZkMetaStore implements MetaStore {
  readonly #opts: ZkMetaStoreOptions;
  readonly #log: Logger;
  readonly #listeners = new Set<ServersListener>();
  readonly #owned = new Map<string, { address: ServerAddress; data: ServerNodeData }>();
  readonly #nodeData = new Map<string, ServerNodeData | undefined>();
  #client: Client | undefined;
  /** Incremented per client; callbacks of an older client are ignored (ioredis connectionEpoch idea). */
  #epoch = 0;
  #connected = false;
  /** when the connection was lost (0 = never connected); within the session timeout the session may come back */
  #disconnectedAt = 0;
  #closed = false;
  #snapshot: readonly ServerInfo[] = Object.freeze([]);
  #firstConnect: Promise<void> | undefined;

  constructor(options: ZkMetaStoreOptions) {
    this.#opts = options;
    this.#log = options.log ?? silentLogger;
  }

  async start(): Promise<void> {
    this.#firstConnect ??= new Promise<void>((resolve) => {
      this.#connectClient(resolve);
      const timeout = this.#opts.startTimeoutMs ?? 15_000;
      setTimeout(() => {
        if (!this.#connected) this.#log.warn({ connect: this.#opts.connect, timeoutMs: timeout }, 'zookeeper not reachable yet; still trying');
        resolve();
      }, timeout).unref();
    });
    return this.#firstConnect;
  }

  #connectClient(onFirstSync?: () => void): void {
    const epoch = ++this.#epoch;
    const client = zookeeper.createClient(this.#opts.connect, {
      sessionTimeout: this.#opts.sessionTimeoutMs,
      spinDelay: 200,
      retries: 1,
    });
    this.#client = client;
    client.on('state', (state) => {
      if (epoch !== this.#epoch || this.#closed) return;
      const name = state.name;
      if (state === zookeeper.State.SYNC_CONNECTED || state === zookeeper.State.CONNECTED_READ_ONLY) {
        const wasConnected = this.#connected;
        this.#connected = true;
        this.#log.info({ state: name, sessionId: client.getSessionId().toString('hex') }, 'zookeeper connected');
        void this.#onSessionReady(client, epoch, !wasConnected).finally(() => onFirstSync?.());
      } else if (state === zookeeper.State.DISCONNECTED) {
        this.#connected = false;
        this.#disconnectedAt = Date.now();
        this.#log.warn({ state: name }, 'zookeeper disconnected; the session survives until its timeout');
      } else if (state === zookeeper.State.EXPIRED) {
        this.#connected = false;
        this.#disconnectedAt = 0;
        this.#log.warn({ state: name }, 'zookeeper session expired; reconnecting with a new session');
        client.close();
        this.#nodeData.clear();
        this.#connectClient();
      }
    });
    client.connect();
  }

  async #onSessionReady(client: Client, epoch: number, fresh: boolean): Promise<void> {
    try {
      await this.#mkdirp(client, this.#opts.root);
      if (fresh) {
        for (const [id, { data }] of this.#owned) await this.#createNode(client, id, data);
      }
      this.#watchChildren(client, epoch);
    } catch (err) {
      this.#log.error({ err }, 'zookeeper session setup failed');
    }
  }

  #watchChildren(client: Client, epoch: number): void {
    client.getChildren(
      this.#opts.root,
      () => {
        if (epoch === this.#epoch && !this.#closed) this.#watchChildren(client, epoch);
      },
      (err: unknown, children: string[]) => {
        if (epoch !== this.#epoch || this.#closed) return;
        if (err) {
          this.#log.warn({ err }, 'listing servers failed');
          return;
        }
        const names = new Set(children);
        for (const known of [...this.#nodeData.keys()]) if (!names.has(known)) this.#nodeData.delete(known);
        // Publish the names at once (a vanished server must stop being chosen now); data follows.
        this.#publish(children);
        for (const child of children) if (!this.#nodeData.has(child)) this.#watchData(client, epoch, child);
      },
    );
  }

  #watchData(client: Client, epoch: number, child: string): void {
    this.#nodeData.set(child, this.#nodeData.get(child));
    client.getData(
      `${this.#opts.root}/${child}`,
      (event: Event) => {
        if (epoch !== this.#epoch || this.#closed) return;
        if (event.getType() === zookeeper.Event.NODE_DATA_CHANGED) this.#watchData(client, epoch, child);
      },
      (err: unknown, data: Buffer | undefined) => {
        if (epoch !== this.#epoch || this.#closed || err) return;
        if (!this.#nodeData.has(child)) return; // vanished meanwhile
        this.#nodeData.set(child, parseServerNodeData(data));
        this.#publish([...this.#nodeData.keys()]);
      },
    );
  }

  #publish(children: readonly string[]): void {
    const next = children
      .map((id) => serverInfo(id, this.#nodeData.get(id)))
      .filter((s): s is ServerInfo => s !== undefined)
      .sort((a, b) => a.id.localeCompare(b.id));
    const same =
      next.length === this.#snapshot.length &&
      next.every((s, i) => s.id === this.#snapshot[i]!.id && JSON.stringify(s.data) === JSON.stringify(this.#snapshot[i]!.data));
    if (same) return;
    this.#snapshot = Object.freeze(next);
    for (const l of this.#listeners) l(this.#snapshot);
  }

  #mkdirp(client: Client, path: string): Promise<void> {
    return new Promise((resolve, reject) => client.mkdirp(path, CreateMode.PERSISTENT, (err: unknown) => (err ? reject(err) : resolve())));
  }

  async #createNode(client: Client, id: string, data: ServerNodeData): Promise<void> {
    const path = `${this.#opts.root}/${id}`;
    const body = Buffer.from(JSON.stringify(data));
    for (let attempt = 0; attempt < 5; attempt++) {
      const err = await new Promise<unknown>((resolve) => client.create(path, body, CreateMode.EPHEMERAL, (e: unknown) => resolve(e)));
      if (!err) return;
      if (codeOf(err) !== Exception.NODE_EXISTS) throw err;
      // The node exists: ours (nothing to do) or left by a previous process with the same address
      // whose session has not expired yet (a restarted pod): replace it.
      const stat = await new Promise<Stat | undefined>((resolve) => client.exists(path, (_e: unknown, s: Stat) => resolve(s)));
      if (stat && Buffer.compare(stat.ephemeralOwner, client.getSessionId()) === 0) {
        await this.#setData(client, path, body);
        return;
      }
      await new Promise<void>((resolve) => client.remove(path, -1, () => resolve()));
    }
    throw new Error(`could not register ${path}`);
  }

  #setData(client: Client, path: string, body: Buffer): Promise<void> {
    return new Promise((resolve, reject) => client.setData(path, body, -1, (err: unknown) => (err ? reject(err) : resolve())));
  }

  async register(address: ServerAddress, data: ServerNodeData): Promise<Registration> {
    const id = formatServerAddress(address);
    this.#owned.set(id, { address, data });
    const client = this.#client;
    if (!client || !this.#connected) throw new Error(`cannot register ${id}: not connected to ZooKeeper at ${this.#opts.connect}`);
    await this.#mkdirp(client, this.#opts.root);
    await this.#createNode(client, id, data);
    this.#log.info({ server: id, root: this.#opts.root }, 'registered in zookeeper');
    return {
      update: async (next) => {
        const entry = this.#owned.get(id);
        if (!entry) return;
        entry.data = next;
        if (this.#client && this.#connected) await this.#setData(this.#client, `${this.#opts.root}/${id}`, Buffer.from(JSON.stringify(next))).catch(() => undefined);
      },
      deregister: async () => {
        this.#owned.delete(id);
        const current = this.#client;
        if (!current) return;
        await new Promise<void>((resolve) => current.remove(`${this.#opts.root}/${id}`, -1, () => resolve()));
        this.#log.info({ server: id }, 'deregistered from zookeeper');
      },
    };
  }

  servers(): readonly ServerInfo[] {
    return this.#snapshot;
  }

  onChange(listener: ServersListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Connected, or disconnected for less than the session timeout: the session (and so this server's
   * registration and the cached server list) is still valid while the client fails over to another
   * ZooKeeper node, so a brief disconnect must not take the component out of service.
   */
  isReady(): boolean {
    if (this.#connected) return true;
    return this.#disconnectedAt > 0 && Date.now() - this.#disconnectedAt < this.#opts.sessionTimeoutMs;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#epoch++;
    this.#connected = false;
    const client = this.#client;
    this.#client = undefined;
    client?.close();
  }
}
