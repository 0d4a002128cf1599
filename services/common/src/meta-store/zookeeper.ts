import zookeeper, { type Client, type Event, type State } from 'node-zookeeper-client';
import { backoffDelayMs, type BackoffPolicy } from '../backoff.ts';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import { formatServerAddress, parseServerNodeData, serverInfo, type ServerAddress, type ServerInfo, type ServerNodeData } from '../server-address.ts';
import { META_STORE_EVENT_KINDS, type MetaStore, type MetaStoreEventKind, type Registration, type ServersListener } from './types.ts';
import { codeOf, createZkClient, disposeClient, ZkOps } from './zk-ops.ts';

export interface ZkMetaStoreOptions {
  /** host:port[,host:port…][/chroot] */
  readonly connect: string;
  /** persistent parent of the server nodes; CIM uses /cim */
  readonly root: string;
  readonly sessionTimeoutMs: number;
  /** how long start() waits for the first session before returning (the store keeps trying) */
  readonly startTimeoutMs?: number;
  /** a new client that has no session within this is replaced; default max(2000, sessionTimeoutMs / 2) */
  readonly connectTimeoutMs?: number;
  /** bound of each ZooKeeper request; default connectTimeoutMs */
  readonly requestTimeoutMs?: number;
  /** how long close() and deregister() wait for ZooKeeper; default 1000 */
  readonly closeTimeoutMs?: number;
  /** delays between clients and between failed sync passes; default 200 ms doubling up to 5 s */
  readonly backoff?: BackoffPolicy;
  readonly onEvent?: (kind: MetaStoreEventKind) => void;
  readonly log?: Logger;
}

const { Exception } = zookeeper;
const SPIN_DELAY_MS = 200;
const DEFAULT_BACKOFF: BackoffPolicy = { initialDelayMs: 200, maxDelayMs: 5000, multiplier: 2 };

interface Owned {
  readonly address: ServerAddress;
  data: ServerNodeData;
  /** the client epoch whose session holds the node; another value means it must be created */
  createdEpoch: number;
  /** data changed since it was last written */
  dirty: boolean;
}

/**
 * MetaStore on ZooKeeper, CIM's layout. One client at a time, replaced (with backoff) when it gets no
 * session within the connect deadline, when it stays disconnected past the session timeout, or when
 * its session expires: node-zookeeper-client alone would wait forever on a ZooKeeper that accepts
 * connections and never answers (a starting one). Every new session gets a sync pass: root, owned
 * registrations, children watch, data watches; a failed pass is retried with backoff, never dropped.
 */
export class ZkMetaStore implements MetaStore {
  readonly #opts: ZkMetaStoreOptions;
  readonly #log: Logger;
  readonly #connectTimeoutMs: number;
  readonly #requestTimeoutMs: number;
  readonly #closeTimeoutMs: number;
  readonly #backoff: BackoffPolicy;
  readonly #listeners = new Set<ServersListener>();
  readonly #owned = new Map<string, Owned>();
  readonly #nodeData = new Map<string, ServerNodeData | undefined>();
  readonly #stats = Object.fromEntries(META_STORE_EVENT_KINDS.map((k) => [k, 0])) as Record<MetaStoreEventKind, number>;
  #client: Client | undefined;
  #ops: ZkOps | undefined;
  /** Incremented per client; callbacks and sync passes of an older client are ignored. */
  #epoch = 0;
  #connected = false;
  /** when the connection was lost (0 = connected or never); within the session timeout the session may come back */
  #disconnectedAt = 0;
  /** root, registrations and children watch are in place on the current client's session */
  #synced = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #clientFailures = 0;
  #clientTimer: NodeJS.Timeout | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #syncTimer: NodeJS.Timeout | undefined;
  #syncRun: Promise<void> | undefined;
  #syncAgain = false;
  #syncFailures = 0;
  #rootEpoch = -1;
  #childWatchArmed = false;
  /** watch tokens: a watcher whose token is no longer current (superseded, older client) is ignored */
  #watchToken = 0;
  #childWatchToken = 0;
  readonly #dataWatch = new Map<string, number>();
  #snapshot: readonly ServerInfo[] = Object.freeze([]);
  #firstConnect: Promise<void> | undefined;
  #onFirstSync: (() => void) | undefined;

  constructor(options: ZkMetaStoreOptions) {
    this.#opts = options;
    this.#log = options.log ?? silentLogger;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? Math.max(2000, Math.floor(options.sessionTimeoutMs / 2));
    this.#requestTimeoutMs = options.requestTimeoutMs ?? this.#connectTimeoutMs;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 1000;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
  }

  start(): Promise<void> {
    this.#firstConnect ??= new Promise<void>((resolve) => {
      const timeout = this.#opts.startTimeoutMs ?? 15_000;
      const timer = setTimeout(() => {
        if (!this.#synced) this.#log.warn({ connect: this.#opts.connect, timeoutMs: timeout }, 'zookeeper not reachable yet; still trying');
        resolve();
      }, timeout);
      timer.unref();
      this.#onFirstSync = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#newClient();
    });
    return this.#firstConnect;
  }

  #count(kind: MetaStoreEventKind): void {
    this.#stats[kind]++;
    try {
      this.#opts.onEvent?.(kind);
    } catch (err) {
      this.#log.warn({ err, kind }, 'meta-store event hook failed');
    }
  }

  #newClient(): void {
    if (this.#closed) return;
    const epoch = ++this.#epoch;
    this.#connected = false;
    this.#disconnectedAt = 0;
    this.#synced = false;
    this.#childWatchArmed = false;
    this.#dataWatch.clear();
    const client = createZkClient(this.#opts.connect, { sessionTimeout: this.#opts.sessionTimeoutMs, spinDelay: SPIN_DELAY_MS }, (err) =>
      this.#log.warn({ err: err instanceof Error ? err.message : err }, 'unreadable reply from zookeeper; reconnecting'),
    );
    this.#client = client;
    this.#ops = new ZkOps(client, this.#requestTimeoutMs);
    this.#count('connect_attempt');
    this.#armDeadline(epoch, this.#connectTimeoutMs, 'connect_timeout');
    client.on('state', (state) => this.#onState(client, epoch, state));
    client.connect();
  }

  /** Replaces the client unless it has a session by then. */
  #armDeadline(epoch: number, ms: number, kind: 'connect_timeout' | 'session_lost'): void {
    clearTimeout(this.#clientTimer);
    this.#clientTimer = setTimeout(() => {
      if (epoch !== this.#epoch || this.#closed || this.#connected) return;
      this.#count(kind);
      this.#replace(epoch, kind === 'connect_timeout' ? `no session within ${ms} ms` : `disconnected for ${ms} ms (session timeout)`);
    }, ms);
  }

  #onState(client: Client, epoch: number, state: State): void {
    if (epoch !== this.#epoch || this.#closed) return;
    if (state === zookeeper.State.SYNC_CONNECTED || state === zookeeper.State.CONNECTED_READ_ONLY) {
      clearTimeout(this.#clientTimer);
      this.#connected = true;
      this.#disconnectedAt = 0;
      this.#count('connected');
      this.#log.info({ state: state.name, sessionId: client.getSessionId().toString('hex') }, 'zookeeper connected');
      void this.#kickSync();
    } else if (state === zookeeper.State.DISCONNECTED) {
      this.#connected = false;
      this.#disconnectedAt = Date.now();
      this.#count('disconnected');
      // The library reconnects with the same session; past the session timeout that session is gone.
      const sessionMs = client.getSessionTimeout() || this.#opts.sessionTimeoutMs;
      this.#log.warn({ state: state.name, sessionTimeoutMs: sessionMs }, 'zookeeper disconnected; the session survives until its timeout');
      this.#armDeadline(epoch, sessionMs, 'session_lost');
    } else if (state === zookeeper.State.EXPIRED) {
      this.#count('session_expired');
      this.#replace(epoch, 'session expired');
    } else if (state === zookeeper.State.AUTH_FAILED) {
      this.#replace(epoch, 'authentication failed');
    }
  }

  #replace(epoch: number, reason: string): void {
    if (epoch !== this.#epoch || this.#closed) return;
    const old = this.#client;
    this.#epoch++; // from now on the old client's callbacks are ignored
    this.#connected = false;
    this.#synced = false;
    this.#client = undefined;
    this.#ops = undefined;
    clearTimeout(this.#clientTimer);
    // Not synchronously: we may be inside the library's own state handler, which reconnects after it.
    if (old) setImmediate(() => void disposeClient(old, 0));
    const delayMs = backoffDelayMs(++this.#clientFailures, this.#backoff, Math.random);
    this.#log.warn({ reason, connect: this.#opts.connect, retryInMs: delayMs }, 'zookeeper client replaced; reconnecting with a new session');
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => this.#newClient(), delayMs);
  }

  /** Runs a sync pass now, or once more after the running one; resolves when no pass is running. */
  #kickSync(): Promise<void> {
    this.#syncAgain = true;
    clearTimeout(this.#syncTimer);
    this.#syncTimer = undefined;
    this.#syncRun ??= this.#syncLoop();
    return this.#syncRun;
  }

  async #syncLoop(): Promise<void> {
    try {
      let ok = true;
      while (ok && this.#syncAgain && !this.#closed) {
        this.#syncAgain = false;
        ok = await this.#syncOnce();
      }
      if (this.#closed) return;
      if (ok) {
        this.#syncFailures = 0;
        return;
      }
      const delayMs = backoffDelayMs(++this.#syncFailures, this.#backoff, Math.random);
      clearTimeout(this.#syncTimer);
      this.#syncTimer = setTimeout(() => void this.#kickSync(), delayMs);
    } finally {
      // Cleared in the same tick as the last check of #syncAgain: a kick can never fall in between.
      this.#syncRun = undefined;
    }
  }

  /** false = something failed on the current session (retry); true = done, or nothing to do until the next session. */
  async #syncOnce(): Promise<boolean> {
    const epoch = this.#epoch;
    const ops = this.#ops;
    if (!ops || !this.#connected || this.#closed) return true;
    try {
      if (this.#rootEpoch !== epoch) {
        await ops.mkdirp(this.#opts.root);
        this.#rootEpoch = epoch;
      }
      for (const [id, entry] of [...this.#owned]) {
        if (epoch !== this.#epoch) return true;
        await this.#syncRegistration(ops, epoch, id, entry);
      }
      if (epoch !== this.#epoch) return true;
      if (!this.#childWatchArmed) await this.#armChildren(ops, epoch);
      if (epoch !== this.#epoch) return true;
      if (!this.#synced) {
        this.#synced = true;
        this.#clientFailures = 0;
        this.#count('session_ready');
        this.#onFirstSync?.();
      }
      for (const child of [...this.#nodeData.keys()]) {
        if (epoch !== this.#epoch) return true;
        if (!this.#dataWatch.has(child)) await this.#armData(ops, epoch, child);
      }
      return true;
    } catch (err) {
      if (epoch !== this.#epoch || this.#closed) return true;
      this.#count('sync_failed');
      this.#log.warn({ err: err instanceof Error ? err.message : err }, 'zookeeper sync failed; retrying');
      return false;
    }
  }

  async #syncRegistration(ops: ZkOps, epoch: number, id: string, entry: Owned): Promise<void> {
    const path = `${this.#opts.root}/${id}`;
    if (entry.createdEpoch !== epoch) {
      entry.dirty = false;
      try {
        await this.#createNode(ops, path, Buffer.from(JSON.stringify(entry.data)));
      } catch (err) {
        entry.dirty = true;
        throw err;
      }
      if (this.#owned.get(id) !== entry) {
        await ops.remove(path).catch(() => undefined); // deregistered meanwhile
        return;
      }
      entry.createdEpoch = epoch;
      this.#log.info({ server: id, root: this.#opts.root }, 'registered in zookeeper');
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

  async #createNode(ops: ZkOps, path: string, body: Buffer): Promise<void> {
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

  async #armChildren(ops: ZkOps, epoch: number): Promise<void> {
    const token = (this.#childWatchToken = ++this.#watchToken);
    const children = await ops.getChildren(this.#opts.root, () => {
      if (epoch !== this.#epoch || token !== this.#childWatchToken || this.#closed) return;
      this.#childWatchArmed = false;
      void this.#kickSync();
    });
    if (epoch !== this.#epoch) return;
    this.#childWatchArmed = true;
    const names = new Set(children);
    for (const known of [...this.#nodeData.keys()]) {
      if (names.has(known)) continue;
      this.#nodeData.delete(known);
      this.#dataWatch.delete(known);
    }
    for (const child of children) if (!this.#nodeData.has(child)) this.#nodeData.set(child, undefined);
    // Publish the names at once (a vanished server must stop being chosen now); data follows.
    this.#publish();
  }

  async #armData(ops: ZkOps, epoch: number, child: string): Promise<void> {
    const token = ++this.#watchToken;
    this.#dataWatch.set(child, token);
    try {
      const data = await ops.getData(`${this.#opts.root}/${child}`, (event: Event) => {
        if (epoch !== this.#epoch || this.#closed || this.#dataWatch.get(child) !== token) return;
        this.#dataWatch.delete(child);
        // NODE_DELETED is the children watch's business
        if (event.getType() === zookeeper.Event.NODE_DATA_CHANGED) void this.#kickSync();
      });
      if (epoch !== this.#epoch || !this.#nodeData.has(child)) return;
      this.#nodeData.set(child, parseServerNodeData(data));
      this.#publish();
    } catch (err) {
      if (this.#dataWatch.get(child) === token) this.#dataWatch.delete(child);
      if (codeOf(err) !== Exception.NO_NODE) throw err; // vanished: the children watch drops it
    }
  }

  #publish(): void {
    const next = [...this.#nodeData.keys()]
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

  /** Never throws: without a session the registration is remembered and created once one is up. */
  async register(address: ServerAddress, data: ServerNodeData): Promise<Registration> {
    const id = formatServerAddress(address);
    const entry: Owned = { address, data, createdEpoch: this.#owned.get(id)?.createdEpoch ?? -1, dirty: true };
    this.#owned.set(id, entry);
    if (entry.createdEpoch !== this.#epoch) this.#synced = false; // ready again once the node exists
    if (this.#connected) await this.#kickSync();
    else this.#log.info({ server: id, connect: this.#opts.connect }, 'not connected to zookeeper yet; registering once connected');
    return {
      update: async (next) => {
        if (this.#owned.get(id) !== entry) return;
        entry.data = next;
        entry.dirty = true;
        if (this.#connected) await this.#kickSync();
      },
      deregister: async () => {
        if (this.#owned.get(id) !== entry) return;
        this.#owned.delete(id);
        const client = this.#client;
        // Without a session the node (if any) ends with the session; close() ends ours.
        if (!client || !this.#connected) return;
        await new ZkOps(client, Math.min(this.#requestTimeoutMs, this.#closeTimeoutMs)).remove(`${this.#opts.root}/${id}`).then(
          () => this.#log.info({ server: id }, 'deregistered from zookeeper'),
          (err: unknown) => {
            if (codeOf(err) !== Exception.NO_NODE) this.#log.warn({ err: err instanceof Error ? err.message : err, server: id }, 'deregistration failed');
          },
        );
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
   * Registered and watching on a live session, or disconnected for less than the session timeout:
   * the session (and so this server's registration and the cached server list) is still valid while
   * the client fails over to another ZooKeeper node, so a brief disconnect must not take the
   * component out of service.
   */
  isReady(): boolean {
    if (this.#closed || !this.#synced) return false;
    if (this.#connected) return true;
    return this.#disconnectedAt > 0 && Date.now() - this.#disconnectedAt < this.#opts.sessionTimeoutMs;
  }

  stats(): Readonly<Record<MetaStoreEventKind, number>> {
    return Object.freeze({ ...this.#stats });
  }

  /** Returns within closeTimeoutMs (plus a tick) even when ZooKeeper is down. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      this.#epoch++;
      this.#connected = false;
      this.#synced = false;
      for (const t of [this.#clientTimer, this.#reconnectTimer, this.#syncTimer]) clearTimeout(t);
      this.#onFirstSync?.();
      const client = this.#client;
      this.#client = undefined;
      this.#ops = undefined;
      if (client) await disposeClient(client, this.#closeTimeoutMs);
    })();
    return this.#closing;
  }
}
