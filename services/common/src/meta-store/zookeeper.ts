import zookeeper from 'node-zookeeper-client';
import { backoffDelayMs, type BackoffPolicy } from '../backoff.ts';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import { formatServerAddress, type ServerAddress, type ServerInfo, type ServerNodeData } from '../server-address.ts';
import { META_STORE_EVENT_KINDS, type MetaStore, type MetaStoreEventKind, type Registration, type ServersListener } from './types.ts';
import { codeOf, ZkOps } from './zk-ops.ts';
import { syncRegistration, type Owned } from './zk-registrations.ts';
import { ZkServerWatch } from './zk-server-watch.ts';
import { ZkSession } from './zk-session.ts';

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
const DEFAULT_BACKOFF: BackoffPolicy = { initialDelayMs: 200, maxDelayMs: 5000, multiplier: 2 };

/**
 * MetaStore on ZooKeeper, CIM's layout. The session (zk-session.ts) is supervised and replaced when it
 * fails; every new session gets a sync pass: root, owned registrations (zk-registrations.ts), children
 * watch, data watches (zk-server-watch.ts). A failed pass is retried with backoff, never dropped.
 */
export class ZkMetaStore implements MetaStore {
  readonly #opts: ZkMetaStoreOptions;
  readonly #log: Logger;
  readonly #requestTimeoutMs: number;
  readonly #closeTimeoutMs: number;
  readonly #backoff: BackoffPolicy;
  readonly #owned = new Map<string, Owned>();
  readonly #stats = Object.fromEntries(META_STORE_EVENT_KINDS.map((k) => [k, 0])) as Record<MetaStoreEventKind, number>;
  readonly #session: ZkSession;
  readonly #watch: ZkServerWatch;
  /** root, registrations and children watch are in place on the current client's session */
  #synced = false;
  #closing: Promise<void> | undefined;
  #syncTimer: NodeJS.Timeout | undefined;
  #syncRun: Promise<void> | undefined;
  #syncAgain = false;
  #syncFailures = 0;
  #rootEpoch = -1;
  #firstConnect: Promise<void> | undefined;
  #onFirstSync: (() => void) | undefined;

  constructor(options: ZkMetaStoreOptions) {
    this.#opts = options;
    this.#log = options.log ?? silentLogger;
    const connectTimeoutMs = options.connectTimeoutMs ?? Math.max(2000, Math.floor(options.sessionTimeoutMs / 2));
    this.#requestTimeoutMs = options.requestTimeoutMs ?? connectTimeoutMs;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 1000;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    const session = new ZkSession(
      { connect: options.connect, sessionTimeoutMs: options.sessionTimeoutMs, connectTimeoutMs, requestTimeoutMs: this.#requestTimeoutMs, backoff: this.#backoff, log: this.#log },
      {
        count: (kind) => this.#count(kind),
        reset: () => {
          this.#synced = false;
          this.#watch.reset();
        },
        connected: () => void this.#kickSync(),
      },
    );
    this.#session = session;
    this.#watch = new ZkServerWatch(options.root, (epoch) => epoch === session.epoch && !session.closed, () => void this.#kickSync());
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
      this.#session.start();
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
      while (ok && this.#syncAgain && !this.#session.closed) {
        this.#syncAgain = false;
        ok = await this.#syncOnce();
      }
      if (this.#session.closed) return;
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
    const session = this.#session;
    const epoch = session.epoch;
    const ops = session.ops;
    if (!ops || !session.connected || session.closed) return true;
    try {
      if (this.#rootEpoch !== epoch) {
        await ops.mkdirp(this.#opts.root);
        this.#rootEpoch = epoch;
      }
      for (const [id, entry] of [...this.#owned]) {
        if (epoch !== session.epoch) return true;
        await syncRegistration(ops, epoch, this.#opts.root, id, entry, () => this.#owned.get(id) === entry, this.#log);
      }
      if (epoch !== session.epoch) return true;
      if (!this.#watch.childrenArmed) await this.#watch.armChildren(ops, epoch);
      if (epoch !== session.epoch) return true;
      if (!this.#synced) {
        this.#synced = true;
        session.settled();
        this.#count('session_ready');
        this.#onFirstSync?.();
      }
      await this.#watch.armMissingData(ops, epoch);
      return true;
    } catch (err) {
      if (epoch !== session.epoch || session.closed) return true;
      this.#count('sync_failed');
      this.#log.warn({ err: err instanceof Error ? err.message : err }, 'zookeeper sync failed; retrying');
      return false;
    }
  }

  /** Never throws: without a session the registration is remembered and created once one is up. */
  async register(address: ServerAddress, data: ServerNodeData): Promise<Registration> {
    const id = formatServerAddress(address);
    const entry: Owned = { address, data, createdEpoch: this.#owned.get(id)?.createdEpoch ?? -1, dirty: true };
    this.#owned.set(id, entry);
    if (entry.createdEpoch !== this.#session.epoch) this.#synced = false; // ready again once the node exists
    if (this.#session.connected) await this.#kickSync();
    else this.#log.info({ server: id, connect: this.#opts.connect }, 'not connected to zookeeper yet; registering once connected');
    return {
      update: async (next) => {
        if (this.#owned.get(id) !== entry) return;
        entry.data = next;
        entry.dirty = true;
        if (this.#session.connected) await this.#kickSync();
      },
      deregister: async () => {
        if (this.#owned.get(id) !== entry) return;
        this.#owned.delete(id);
        const client = this.#session.client;
        // Without a session the node (if any) ends with the session; close() ends ours.
        if (!client || !this.#session.connected) return;
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
    return this.#watch.servers();
  }

  onChange(listener: ServersListener): () => void {
    return this.#watch.onChange(listener);
  }

  /**
   * Registered and watching on a live session, or disconnected for less than the session timeout:
   * the session (and so this server's registration and the cached server list) is still valid while
   * the client fails over to another ZooKeeper node, so a brief disconnect must not take the
   * component out of service.
   */
  isReady(): boolean {
    return this.#synced && this.#session.holdsSession();
  }

  stats(): Readonly<Record<MetaStoreEventKind, number>> {
    return Object.freeze({ ...this.#stats });
  }

  /** Returns within closeTimeoutMs (plus a tick) even when ZooKeeper is down. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = this.#session.close(this.#closeTimeoutMs);
      this.#synced = false;
      clearTimeout(this.#syncTimer);
      this.#onFirstSync?.();
      await closed;
    })();
    return this.#closing;
  }
}
