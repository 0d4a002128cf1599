/**
 * Session supervision for ZkMetaStore: one ZooKeeper client at a time, replaced (with backoff) when it gets
 * no session within the connect deadline, when it stays disconnected past the session timeout, or when its
 * session expires. node-zookeeper-client alone would wait forever on a ZooKeeper that accepts connections
 * and never answers (a starting one).
 */
import zookeeper, { type Client, type State } from 'node-zookeeper-client';
import { backoffDelayMs, type BackoffPolicy } from '../backoff.ts';
import type { Logger } from '../log.ts';
import type { MetaStoreEventKind } from './types.ts';
import { createZkClient, disposeClient, ZkOps } from './zk-ops.ts';

const SPIN_DELAY_MS = 200;

export interface ZkSessionOptions {
  readonly connect: string;
  readonly sessionTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly backoff: BackoffPolicy;
  readonly log: Logger;
}

export interface ZkSessionHooks {
  count(kind: MetaStoreEventKind): void;
  /** The client is gone or new: nothing armed on an earlier session counts any more. */
  reset(): void;
  /** The current client has a session (new, or back after a disconnect): sync what it should hold. */
  connected(): void;
}

export class ZkSession {
  readonly #o: ZkSessionOptions;
  readonly #hooks: ZkSessionHooks;
  /** Incremented per client (and on close); callbacks and work of an older epoch are ignored. */
  #epoch = 0;
  #client: Client | undefined;
  #ops: ZkOps | undefined;
  #connected = false;
  /** when the connection was lost (0 = connected or never); within the session timeout the session may come back */
  #disconnectedAt = 0;
  #closed = false;
  #failures = 0;
  #clientTimer: NodeJS.Timeout | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;

  constructor(options: ZkSessionOptions, hooks: ZkSessionHooks) {
    this.#o = options;
    this.#hooks = hooks;
  }

  get epoch(): number {
    return this.#epoch;
  }
  get connected(): boolean {
    return this.#connected;
  }
  get closed(): boolean {
    return this.#closed;
  }
  /** Requests on the current client (undefined between clients). */
  get ops(): ZkOps | undefined {
    return this.#ops;
  }
  get client(): Client | undefined {
    return this.#client;
  }

  /** Connected, or disconnected for less than the session timeout (the session may still come back). */
  holdsSession(): boolean {
    if (this.#closed) return false;
    if (this.#connected) return true;
    return this.#disconnectedAt > 0 && Date.now() - this.#disconnectedAt < this.#o.sessionTimeoutMs;
  }

  /** The session is fully in use: the next replacement starts its backoff from the beginning. */
  settled(): void {
    this.#failures = 0;
  }

  start(): void {
    if (this.#closed) return;
    const epoch = ++this.#epoch;
    this.#connected = false;
    this.#disconnectedAt = 0;
    this.#hooks.reset();
    const client = createZkClient(this.#o.connect, { sessionTimeout: this.#o.sessionTimeoutMs, spinDelay: SPIN_DELAY_MS }, (err) =>
      this.#o.log.warn({ err: err instanceof Error ? err.message : err }, 'unreadable reply from zookeeper; reconnecting'),
    );
    this.#client = client;
    this.#ops = new ZkOps(client, this.#o.requestTimeoutMs);
    this.#hooks.count('connect_attempt');
    this.#armDeadline(epoch, this.#o.connectTimeoutMs, 'connect_timeout');
    client.on('state', (state) => this.#onState(client, epoch, state));
    client.connect();
  }

  /** Replaces the client unless it has a session by then. */
  #armDeadline(epoch: number, ms: number, kind: 'connect_timeout' | 'session_lost'): void {
    clearTimeout(this.#clientTimer);
    this.#clientTimer = setTimeout(() => {
      if (epoch !== this.#epoch || this.#closed || this.#connected) return;
      this.#hooks.count(kind);
      this.#replace(epoch, kind === 'connect_timeout' ? `no session within ${ms} ms` : `disconnected for ${ms} ms (session timeout)`);
    }, ms);
  }

  #onState(client: Client, epoch: number, state: State): void {
    if (epoch !== this.#epoch || this.#closed) return;
    if (state === zookeeper.State.SYNC_CONNECTED || state === zookeeper.State.CONNECTED_READ_ONLY) {
      clearTimeout(this.#clientTimer);
      this.#connected = true;
      this.#disconnectedAt = 0;
      this.#hooks.count('connected');
      this.#o.log.info({ state: state.name, sessionId: client.getSessionId().toString('hex') }, 'zookeeper connected');
      this.#hooks.connected();
    } else if (state === zookeeper.State.DISCONNECTED) {
      this.#connected = false;
      this.#disconnectedAt = Date.now();
      this.#hooks.count('disconnected');
      // The library reconnects with the same session; past the session timeout that session is gone.
      const sessionMs = client.getSessionTimeout() || this.#o.sessionTimeoutMs;
      this.#o.log.warn({ state: state.name, sessionTimeoutMs: sessionMs }, 'zookeeper disconnected; the session survives until its timeout');
      this.#armDeadline(epoch, sessionMs, 'session_lost');
    } else if (state === zookeeper.State.EXPIRED) {
      this.#hooks.count('session_expired');
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
    this.#hooks.reset();
    this.#client = undefined;
    this.#ops = undefined;
    clearTimeout(this.#clientTimer);
    // Not synchronously: we may be inside the library's own state handler, which reconnects after it.
    if (old) setImmediate(() => void disposeClient(old, 0));
    const delayMs = backoffDelayMs(++this.#failures, this.#o.backoff, Math.random);
    this.#o.log.warn({ reason, connect: this.#o.connect, retryInMs: delayMs }, 'zookeeper client replaced; reconnecting with a new session');
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => this.start(), delayMs);
  }

  /** Ends the session for good; returns within closeTimeoutMs (plus a tick) even when ZooKeeper is down. */
  async close(closeTimeoutMs: number): Promise<void> {
    this.#closed = true;
    this.#epoch++;
    this.#connected = false;
    for (const t of [this.#clientTimer, this.#reconnectTimer]) clearTimeout(t);
    const client = this.#client;
    this.#client = undefined;
    this.#ops = undefined;
    if (client) await disposeClient(client, closeTimeoutMs);
  }
}
