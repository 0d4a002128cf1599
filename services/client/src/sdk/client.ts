/**
 * CimClient: one user's session with a CIM cluster. It logs in through the route, holds one connection
 * to the server the route chose, keeps it alive, and reconnects on its own.
 *
 * Status machine (all changes go through #setState and are emitted as `state` events):
 *
 *   idle ──connect()──▶ connecting ──▶ ready ──(drop, GOAWAY, no pong)──▶ reconnecting ──(backoff)──▶ connecting ─▶ …
 *     any state ──close()──▶ closed          a failed first connect ──▶ closed          retryStrategy → null ──▶ closed
 *
 * Unlike CIM's Java SDK (reference §7.5, §12 item 13) nothing is static: every client owns its state,
 * timers and connection, so many clients can live in one process; close() never triggers a reconnect;
 * every callback of a connection checks the epoch it was opened in, so a late frame or close event of
 * an old socket cannot touch the current one (the ioredis connectionEpoch guard).
 *
 * Delivery: sends are in-band MESSAGE frames with a client-chosen msgId, resolved by the server's
 * MESSAGE_ACK. A send made while not ready waits in a bounded queue; a send written to a connection
 * that drops before its ack is written again after the reconnect with the same msgId (at least once
 * within `sendTimeoutMs`), and receivers drop msgIds they have already seen.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Command, PROTOCOL_VERSION, Prop, type CimFrame } from '../../../common/src/codec.ts';
import { silentLogger, type Logger } from '../../../common/src/log.ts';
import { backoffDelayMs, DEFAULT_BACKOFF, type BackoffPolicy } from '../../../common/src/backoff.ts';
import { ClientErrorCode, CimClientError } from './errors.ts';
import { Heartbeat } from './heartbeat.ts';
import { RouteApi, ROUTE_SUCCESS, type LoginGrant, type OnlineUser, type ServerAssignment } from './route-api.ts';
import { openConnection, type Connection, type TransportKind } from './transport.ts';

export type ClientState = 'idle' | 'connecting' | 'ready' | 'reconnecting' | 'closed';

export interface ClientOptions {
  /** Base URL of cim-route, e.g. http://127.0.0.1:8083. */
  readonly routeUrl: string;
  /** The account's name; the route checks it against userId at login. */
  readonly userName: string;
  /** The account's id. Without it the account is looked up (and created) by name through /registerAccount. */
  readonly userId?: number;
  /**
   * Call /registerAccount before the first login (idempotent by name). Default: true when no userId is
   * given. With a userId, the registered id must match it.
   */
  readonly register?: boolean;
  /** How to reach the server: WebSocket (default) or CIM's TCP framing. */
  readonly transport?: TransportKind;
  /** A PING goes out after this long without a write or without a read. Default 10 000 (CIM's 10 s). */
  readonly heartbeatIntervalMs?: number;
  /** The connection is dead when nothing arrives this long after a PING. Default 10 000. */
  readonly pongTimeoutMs?: number;
  /** Bound of each route call, of the connect and of the server's LOGIN_RESPONSE. Default 5 000. */
  readonly requestTimeoutMs?: number;
  /** Bound of a send, from the call to the server's ack, reconnects included. Default 15 000. */
  readonly sendTimeoutMs?: number;
  /** Sends that may wait for a connection before QUEUE_FULL. Default 1 000. */
  readonly maxQueuedSends?: number;
  /** Largest frame accepted from the server. Default 4 MiB. */
  readonly maxFrameBytes?: number;
  /** Attempts of the first connect when it fails transiently (unreachable, timeout). Default 3; 1 = no retry. */
  readonly connectAttempts?: number;
  /** Delays between reconnect attempts when no retryStrategy is given. Default 0.5 s doubling to 30 s, jittered. */
  readonly backoff?: BackoffPolicy;
  /**
   * Delay in ms before reconnect attempt `attempt` (1, 2, …), or null to give up (state → closed,
   * `error` RECONNECT_GAVE_UP). Default: jittered capped exponential backoff from `backoff`, forever.
   */
  readonly retryStrategy?: (attempt: number) => number | null;
  /**
   * Message listener registered before the first connect, so messages pushed right after login
   * (offline messages) are not missed. Same as client.on('message', …).
   */
  readonly onMessage?: (message: ChatMessage) => void;
  readonly logger?: Logger;
  /** Random source for jitter, [0, 1). */
  readonly random?: () => number;
  /** Injected for tests. */
  readonly fetch?: typeof fetch;
}

export interface ChatMessage {
  /** Sender's id for the message; absent when the sender's client did not set one (CIM's Java client). */
  readonly msgId: string | undefined;
  readonly from: { readonly userId: number; readonly userName: string };
  /** The receiver (this client's user). */
  readonly to: number;
  readonly text: string;
  /** When the sending server accepted the message (ms since epoch), when the server says. */
  readonly sentAt: number | undefined;
  readonly receivedAt: number;
  /** Delivered from the offline store (cmd OFFLINE) rather than live. */
  readonly offline: boolean;
}

export interface StateChange {
  readonly from: ClientState;
  readonly to: ClientState;
  /** Why: the error or event that caused the change. */
  readonly reason?: string;
  /** Reconnect attempt number (reconnecting / connecting during reconnect). */
  readonly attempt?: number;
  /** Backoff before the attempt (reconnecting). */
  readonly delayMs?: number;
  /** The server connected to (ready). */
  readonly server?: ServerAssignment;
}

export interface ClientInfo {
  readonly userId: number | undefined;
  readonly userName: string;
  readonly state: ClientState;
  readonly routeUrl: string;
  readonly transport: TransportKind;
  /** The server of the current (or last) login. */
  readonly server: ServerAssignment | undefined;
  /** ws://… or tcp://… of the open connection. */
  readonly remote: string | undefined;
  readonly connectedAt: number | undefined;
  /** Successful reconnects since connect(). */
  readonly reconnects: number;
  /** Sends waiting for a connection or for their ack. */
  readonly pendingSends: number;
}

export interface SendOptions {
  /** Reuse an id to make a retried send recognisable as a duplicate. Default: a random UUID. */
  readonly msgId?: string;
  readonly timeoutMs?: number;
}

export interface SendResult {
  readonly msgId: string;
}

export interface ClientEvents {
  message: [ChatMessage];
  state: [StateChange];
  error: [Error];
}

interface PendingSend {
  readonly msgId: string;
  readonly frame: Partial<CimFrame>;
  readonly resolve: (result: SendResult) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

interface LoginWaiter {
  readonly epoch: number;
  /** Set once LOGIN_RESPONSE was handled; the connection is not `ready` until #establish resumes. */
  settled: boolean;
  /** A GOAWAY or close that arrived after the LOGIN_RESPONSE but before `ready` (same socket read). */
  lostReason: string | undefined;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

const SEEN_MSG_IDS = 2048;

/** Creates a client and connects it; rejects (and leaves nothing running) when the first login fails. */
export async function createClient(options: ClientOptions): Promise<CimClient> {
  const client = new CimClient(options);
  await client.connect();
  return client;
}

export class CimClient extends EventEmitter<ClientEvents> {
  readonly #route: RouteApi;
  readonly #log: Logger;
  readonly #transport: TransportKind;
  readonly #userName: string;
  readonly #register: boolean;
  readonly #heartbeatIntervalMs: number;
  readonly #pongTimeoutMs: number;
  readonly #requestTimeoutMs: number;
  readonly #sendTimeoutMs: number;
  readonly #maxQueuedSends: number;
  readonly #maxFrameBytes: number;
  readonly #connectAttempts: number;
  readonly #retryStrategy: (attempt: number) => number | null;
  readonly #abort = new AbortController();

  #state: ClientState = 'idle';
  /** Incremented for every connection attempt and by close(); callbacks of older epochs are ignored. */
  #epoch = 0;
  #userId: number | undefined;
  #grant: LoginGrant | undefined;
  #loginAttempted = false;
  #connection: Connection | undefined;
  #heartbeat: Heartbeat | undefined;
  #loginWaiter: LoginWaiter | undefined;
  #connectedAt: number | undefined;
  #reconnects = 0;
  #closing: Promise<void> | undefined;
  /** Sends waiting for a connection, oldest first. */
  #queue: PendingSend[] = [];
  /** Sends written to the current connection, waiting for MESSAGE_ACK. */
  readonly #inFlight = new Map<string, PendingSend>();
  readonly #seen = new Set<string>();

  constructor(options: ClientOptions) {
    super();
    if (typeof options.userName !== 'string' || options.userName.trim() === '') {
      throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, 'userName must be a non-empty string');
    }
    if (options.userId !== undefined && (!Number.isSafeInteger(options.userId) || options.userId <= 0)) {
      throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, `userId must be a positive integer, got ${String(options.userId)}`);
    }
    if (options.userId === undefined && options.register === false) {
      throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, 'without userId the account is found by registering; do not set register: false');
    }
    this.#requestTimeoutMs = positive(options.requestTimeoutMs, 5_000, 'requestTimeoutMs');
    this.#route = new RouteApi({ routeUrl: options.routeUrl, timeoutMs: this.#requestTimeoutMs, ...(options.fetch ? { fetch: options.fetch } : {}) });
    this.#userName = options.userName;
    this.#userId = options.userId;
    this.#register = options.register ?? options.userId === undefined;
    this.#transport = options.transport ?? 'ws';
    if (this.#transport !== 'ws' && this.#transport !== 'tcp') {
      throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, `transport must be "ws" or "tcp", got ${String(this.#transport)}`);
    }
    this.#heartbeatIntervalMs = positive(options.heartbeatIntervalMs, 10_000, 'heartbeatIntervalMs');
    this.#pongTimeoutMs = positive(options.pongTimeoutMs, 10_000, 'pongTimeoutMs');
    this.#sendTimeoutMs = positive(options.sendTimeoutMs, 15_000, 'sendTimeoutMs');
    this.#maxQueuedSends = positive(options.maxQueuedSends, 1_000, 'maxQueuedSends');
    this.#maxFrameBytes = positive(options.maxFrameBytes, 4 * 1024 * 1024, 'maxFrameBytes');
    this.#connectAttempts = Math.floor(positive(options.connectAttempts, 3, 'connectAttempts'));
    const random = options.random ?? Math.random;
    const backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#retryStrategy = options.retryStrategy ?? ((attempt) => backoffDelayMs(attempt, backoff, random));
    this.#log = (options.logger ?? silentLogger).child({ userName: options.userName });
    if (options.onMessage) this.on('message', options.onMessage);
  }

  get state(): ClientState {
    return this.#state;
  }

  /** The user's id; known after connect() (or from the options). */
  get userId(): number | undefined {
    return this.#userId;
  }

  get userName(): string {
    return this.#userName;
  }

  /**
   * Registers when asked, logs in through the route, connects and sends LOGIN_REQUEST. Resolves in
   * state `ready`. Transient failures (route or server unreachable, timeouts: a server that just
   * crashed can still be chosen until it leaves the route's list) are retried up to `connectAttempts`
   * times with the reconnect backoff. Anything else (wrong account, duplicate login, refused login)
   * fails at once: the client goes to `closed` and the error is thrown.
   */
  async connect(): Promise<void> {
    if (this.#state !== 'idle') throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, `connect() is only valid once, in state idle (state is ${this.#state})`);
    this.#setState('connecting', { reason: 'connect()' });
    let registered = !this.#register;
    try {
      for (let attempt = 1; ; attempt++) {
        const epoch = ++this.#epoch;
        try {
          if (!registered) {
            const account = await this.#route.registerAccount(this.#userName, this.#abort.signal);
            if (this.#userId !== undefined && account.userId !== this.#userId) {
              throw new CimClientError(
                ClientErrorCode.INVALID_ARGUMENT,
                `user "${this.#userName}" is registered with id ${account.userId}, not ${this.#userId}`,
              );
            }
            this.#userId = account.userId;
            registered = true;
          }
          await this.#establish(epoch, false);
          return;
        } catch (err) {
          const delayMs = !this.#isClosed() && attempt < this.#connectAttempts && isTransient(err) ? this.#retryStrategy(attempt) : null;
          if (delayMs === null) throw err;
          this.#log.info({ attempt, delayMs, reason: errorText(err) }, 'connect attempt failed, retrying');
          this.#teardownConnection('connect attempt failed');
          await sleep(delayMs, this.#abort.signal);
          // A login the route accepted but the server did not complete would answer 5000 next time.
          if (this.#grant) await this.#route.offLine(this.#userId ?? 0, this.#grant.token, this.#abort.signal).catch(() => undefined);
        }
      }
    } catch (err) {
      if (this.#isClosed()) throw this.#closedError();
      this.#teardownConnection('connect failed');
      this.#abort.abort(this.#closedError());
      this.#setState('closed', { reason: errorText(err) });
      this.#rejectAllSends(this.#closedError());
      // The route may already mark the user online; leave nothing stale behind (reference §12 item 2).
      if (this.#loginAttempted) await this.#logout();
      throw err;
    }
  }

  /**
   * Sends a private message. `to` is a userId, or a userName looked up among the online users.
   * Resolves when the server acknowledged it; rejects with RECEIVER_OFFLINE (code 7000) when the receiver
   * is not online, TIMEOUT, QUEUE_FULL or CLOSED.
   */
  async sendPrivate(to: number | string, text: string, options: SendOptions = {}): Promise<SendResult> {
    let receiveUserId: number;
    if (typeof to === 'string') {
      const user = (await this.onlineUsers()).find((u) => u.userName === to);
      if (!user) throw new CimClientError(ClientErrorCode.USER_NOT_FOUND, `no online user is called "${to}"`);
      receiveUserId = user.userId;
    } else {
      if (!Number.isSafeInteger(to) || to <= 0) throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, `receiver must be a positive user id, got ${to}`);
      receiveUserId = to;
    }
    return this.#send(text, { [Prop.receiveUserId]: String(receiveUserId) }, options);
  }

  /** Sends to everyone online except this user. Resolves when the server acknowledged it. */
  sendGroup(text: string, options: SendOptions = {}): Promise<SendResult> {
    return this.#send(text, {}, options);
  }

  /** Everyone online, this user included when connected (GET /onlineUser). */
  onlineUsers(): Promise<OnlineUser[]> {
    if (this.#state === 'closed') return Promise.reject(this.#closedError());
    return this.#route.onlineUsers(this.#abort.signal);
  }

  info(): ClientInfo {
    return {
      userId: this.#userId,
      userName: this.#userName,
      state: this.#state,
      routeUrl: this.#route.baseUrl,
      transport: this.#transport,
      server: this.#grant ? { ip: this.#grant.ip, cimServerPort: this.#grant.cimServerPort, httpPort: this.#grant.httpPort, wsPath: this.#grant.wsPath } : undefined,
      remote: this.#connection?.remote,
      connectedAt: this.#connectedAt,
      reconnects: this.#reconnects,
      pendingSends: this.#queue.length + this.#inFlight.size,
    };
  }

  /**
   * Closes the connection, rejects pending sends with CLOSED and logs out through the route (/offLine).
   * Never reconnects afterwards. Idempotent; resolves when the logout call is done (its failure is only logged).
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const wasLoggedIn = this.#loginAttempted;
    this.#epoch++;
    this.#abort.abort(this.#closedError());
    this.#teardownConnection('closed by the client');
    this.#setState('closed', { reason: 'close()' });
    this.#rejectAllSends(this.#closedError());
    if (wasLoggedIn) await this.#logout();
  }

  // ---- connection lifecycle -------------------------------------------------------------------

  /** route /login → open the connection → LOGIN_REQUEST → LOGIN_RESPONSE 9000 → ready. */
  async #establish(epoch: number, isReconnect: boolean): Promise<void> {
    const userId = this.#userId;
    if (userId === undefined) throw new Error('unreachable: userId is known before login');
    this.#loginAttempted = true;
    const grant = await this.#route.login(userId, this.#userName, this.#abort.signal);
    this.#assertEpoch(epoch);
    this.#grant = grant;
    const connection = await openConnection(
      this.#transport,
      grant,
      { onFrame: (frame) => this.#handleFrame(epoch, frame), onClose: (reason) => this.#handleClose(epoch, reason) },
      { timeoutMs: this.#requestTimeoutMs, signal: this.#abort.signal, maxFrameBytes: this.#maxFrameBytes },
    );
    if (epoch !== this.#epoch) {
      connection.close('superseded');
      throw this.#closedError();
    }
    this.#connection = connection;
    const loggedIn = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new CimClientError(ClientErrorCode.TIMEOUT, `no LOGIN_RESPONSE from ${connection.remote} within ${this.#requestTimeoutMs} ms`));
      }, this.#requestTimeoutMs);
      const waiter: LoginWaiter = {
        epoch,
        settled: false,
        lostReason: undefined,
        resolve: () => ((waiter.settled = true), clearTimeout(timer), resolve()),
        reject: (err) => ((waiter.settled = true), clearTimeout(timer), reject(err)),
      };
      this.#loginWaiter = waiter;
    });
    const waiter = this.#loginWaiter!;
    connection.send({
      cmd: Command.LOGIN_REQUEST,
      requestId: userId,
      reqMsg: this.#userName,
      properties: { [Prop.protocol]: PROTOCOL_VERSION, ...(grant.token ? { [Prop.token]: grant.token } : {}) },
    });
    try {
      await loggedIn;
    } finally {
      this.#loginWaiter = undefined;
    }
    this.#assertEpoch(epoch);
    this.#heartbeat = new Heartbeat({
      intervalMs: this.#heartbeatIntervalMs,
      pongTimeoutMs: this.#pongTimeoutMs,
      sendPing: () => connection.send({ cmd: Command.PING, requestId: userId, reqMsg: 'ping' }),
      onDead: (silentForMs) => {
        if (epoch !== this.#epoch) return;
        this.#log.warn({ remote: connection.remote, silentForMs }, 'no pong, connection considered dead');
        this.#connectionLost(`no answer to PING within ${this.#pongTimeoutMs} ms (half-open connection)`);
      },
    });
    this.#heartbeat.start();
    this.#connectedAt = Date.now();
    if (isReconnect) this.#reconnects++;
    this.#log.info({ remote: connection.remote }, 'logged in');
    this.#setState('ready', { server: { ip: grant.ip, cimServerPort: grant.cimServerPort, httpPort: grant.httpPort, wsPath: grant.wsPath } });
    if (waiter.lostReason !== undefined) {
      this.#connectionLost(waiter.lostReason);
      return;
    }
    this.#flushQueue();
  }

  #handleFrame(epoch: number, frame: CimFrame): void {
    if (epoch !== this.#epoch) return;
    this.#heartbeat?.noteRead();
    switch (frame.cmd) {
      case Command.LOGIN_RESPONSE: {
        const waiter = this.#loginWaiter;
        if (!waiter || waiter.epoch !== epoch) return;
        const code = frame.properties[Prop.code] ?? '';
        if (code === ROUTE_SUCCESS) waiter.resolve();
        else {
          const reason = frame.properties[Prop.reason] ?? frame.reqMsg;
          waiter.reject(new CimClientError(ClientErrorCode.LOGIN_REJECTED, `server refused the login (${code})${reason ? `: ${reason}` : ''}`, { serverCode: code }));
        }
        return;
      }
      case Command.PING:
        return; // pong: liveness is already noted
      case Command.MESSAGE:
      case Command.OFFLINE:
        this.#handlePush(frame);
        return;
      case Command.MESSAGE_ACK:
        this.#handleAck(frame);
        return;
      case Command.GOAWAY: {
        const reason = `server is going away${frame.reqMsg ? `: ${frame.reqMsg}` : ''}`;
        this.#log.info({ reason: frame.reqMsg }, 'GOAWAY received');
        if (!this.#loginLost(epoch, reason)) this.#connectionLost(reason);
        return;
      }
      default:
        this.#log.debug({ cmd: frame.cmd }, 'ignored frame');
    }
  }

  #handleClose(epoch: number, reason: string): void {
    if (epoch !== this.#epoch) return;
    this.#connection = undefined;
    if (!this.#loginLost(epoch, `connection closed during login: ${reason}`)) this.#connectionLost(reason);
  }

  /** The connection of a login in progress is gone; true when that login handles it. */
  #loginLost(epoch: number, reason: string): boolean {
    const waiter = this.#loginWaiter;
    if (!waiter || waiter.epoch !== epoch) return false;
    if (waiter.settled) waiter.lostReason ??= reason;
    else waiter.reject(new CimClientError(ClientErrorCode.CONNECT_FAILED, reason));
    return true;
  }

  /** The ready connection is gone: requeue unacknowledged sends and start reconnecting. */
  #connectionLost(reason: string): void {
    if (this.#state !== 'ready') return;
    this.#log.warn({ reason }, 'connection lost');
    this.#teardownConnection(reason);
    // Unacknowledged sends go first, in their original order, then what was queued meanwhile.
    this.#queue = [...this.#inFlight.values(), ...this.#queue];
    this.#inFlight.clear();
    void this.#reconnect(reason);
  }

  async #reconnect(firstReason: string): Promise<void> {
    let reason = firstReason;
    for (let attempt = 1; ; attempt++) {
      if (this.#state === 'closed') return;
      const delayMs = this.#retryStrategy(attempt);
      if (delayMs === null) {
        const err = new CimClientError(ClientErrorCode.RECONNECT_GAVE_UP, `gave up reconnecting after ${attempt - 1} attempts (retryStrategy returned null); last error: ${reason}`);
        this.#epoch++;
        this.#setState('closed', { reason: err.message });
        this.#rejectAllSends(err);
        this.#emitError(err);
        if (this.#loginAttempted) await this.#logout();
        return;
      }
      this.#setState('reconnecting', { reason, attempt, delayMs });
      try {
        await sleep(delayMs, this.#abort.signal);
      } catch {
        return; // closed while waiting
      }
      const epoch = ++this.#epoch;
      this.#setState('connecting', { attempt });
      try {
        // Clear the stale route first, or the route answers 5000 "repeat login" (reference §7.5, issues #28/#38).
        await this.#route.offLine(this.#userId ?? 0, this.#grant?.token, this.#abort.signal).catch((err: unknown) => {
          if (this.#state !== 'closed') this.#log.debug({ err }, 'offLine before reconnect failed');
        });
        await this.#establish(epoch, true);
        return;
      } catch (err) {
        if (this.#isClosed()) return;
        reason = errorText(err);
        this.#log.info({ attempt, reason }, 'reconnect attempt failed');
        if (epoch === this.#epoch) this.#teardownConnection(reason);
      }
    }
  }

  #teardownConnection(reason: string): void {
    this.#heartbeat?.stop();
    this.#heartbeat = undefined;
    this.#connectedAt = undefined;
    const connection = this.#connection;
    this.#connection = undefined;
    // Bump the epoch first so the close callback of this very connection is ignored.
    this.#epoch++;
    connection?.close(reason);
  }

  async #logout(): Promise<void> {
    if (this.#userId === undefined) return;
    try {
      await this.#route.offLine(this.#userId, this.#grant?.token);
    } catch (err) {
      this.#log.warn({ err }, 'logout (/offLine) failed');
    }
  }

  /** A method, not a comparison, so TypeScript does not narrow #state across awaits. */
  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #assertEpoch(epoch: number): void {
    if (epoch !== this.#epoch || this.#state === 'closed') throw this.#closedError();
  }

  #setState(to: ClientState, details: Omit<StateChange, 'from' | 'to'> = {}): void {
    const from = this.#state;
    if (from === 'closed') return;
    this.#state = to;
    this.#log.debug({ from, to, ...details }, 'state');
    this.emit('state', { from, to, ...details });
  }

  // ---- messages -------------------------------------------------------------------------------

  #send(text: string, properties: Record<string, string>, options: SendOptions): Promise<SendResult> {
    if (typeof text !== 'string' || text === '') return Promise.reject(new CimClientError(ClientErrorCode.INVALID_ARGUMENT, 'text must be a non-empty string'));
    if (this.#state === 'closed') return Promise.reject(this.#closedError());
    if (this.#state === 'idle') return Promise.reject(new CimClientError(ClientErrorCode.INVALID_ARGUMENT, 'call connect() before sending'));
    const msgId = options.msgId ?? randomUUID();
    if (this.#inFlight.has(msgId) || this.#queue.some((p) => p.msgId === msgId)) {
      return Promise.reject(new CimClientError(ClientErrorCode.INVALID_ARGUMENT, `a send with msgId ${msgId} is already pending`));
    }
    const timeoutMs = options.timeoutMs ?? this.#sendTimeoutMs;
    return new Promise<SendResult>((resolve, reject) => {
      const pending: PendingSend = {
        msgId,
        frame: { cmd: Command.MESSAGE, requestId: this.#userId ?? 0, reqMsg: text, properties: { ...properties, [Prop.msgId]: msgId } },
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#forget(pending);
          reject(new CimClientError(ClientErrorCode.TIMEOUT, `message ${msgId} was not acknowledged within ${timeoutMs} ms (state ${this.#state})`));
        }, timeoutMs),
      };
      if (this.#state === 'ready' && this.#write(pending)) return;
      if (this.#queue.length >= this.#maxQueuedSends) {
        clearTimeout(pending.timer);
        reject(new CimClientError(ClientErrorCode.QUEUE_FULL, `${this.#queue.length} sends already wait for a connection (maxQueuedSends)`));
        return;
      }
      this.#queue.push(pending);
    });
  }

  #write(pending: PendingSend): boolean {
    const connection = this.#connection;
    if (!connection || !connection.send(pending.frame)) return false;
    this.#heartbeat?.noteWrite();
    this.#inFlight.set(pending.msgId, pending);
    return true;
  }

  #flushQueue(): void {
    while (this.#state === 'ready' && this.#queue.length > 0) {
      const pending = this.#queue[0]!;
      if (!this.#write(pending)) return;
      this.#queue.shift();
    }
  }

  #forget(pending: PendingSend): void {
    this.#inFlight.delete(pending.msgId);
    const i = this.#queue.indexOf(pending);
    if (i !== -1) this.#queue.splice(i, 1);
  }

  #rejectAllSends(err: Error): void {
    const all = [...this.#inFlight.values(), ...this.#queue];
    this.#inFlight.clear();
    this.#queue = [];
    for (const pending of all) {
      clearTimeout(pending.timer);
      pending.reject(err);
    }
  }

  #handleAck(frame: CimFrame): void {
    const msgId = frame.properties[Prop.msgId] ?? '';
    const pending = this.#inFlight.get(msgId);
    if (!pending) return; // timed out already, or an ack for a send of an earlier connection
    this.#inFlight.delete(msgId);
    clearTimeout(pending.timer);
    const code = frame.properties[Prop.code] ?? '';
    const reason = frame.properties[Prop.reason];
    if (code === ROUTE_SUCCESS) pending.resolve({ msgId });
    else if (code === '7000') {
      pending.reject(new CimClientError(ClientErrorCode.RECEIVER_OFFLINE, reason ?? 'the receiver is offline', { serverCode: code }));
    } else {
      pending.reject(new CimClientError(ClientErrorCode.INVALID_ARGUMENT, `server refused message ${msgId} (${code})${reason ? `: ${reason}` : ''}`, { serverCode: code }));
    }
  }

  #handlePush(frame: CimFrame): void {
    const p = frame.properties;
    const msgId = p[Prop.msgId] || undefined;
    const texts = frame.batchReqMsg.length > 0 ? frame.batchReqMsg : [frame.reqMsg];
    // A batch shares one msgId, so only single messages are deduplicated.
    if (msgId !== undefined && texts.length === 1) {
      if (this.#seen.has(msgId)) {
        this.#log.debug({ msgId }, 'duplicate message dropped');
        return;
      }
      this.#seen.add(msgId);
      if (this.#seen.size > SEEN_MSG_IDS) this.#seen.delete(this.#seen.values().next().value!);
    }
    const receivedAt = Date.now();
    const rawSentAt = p[Prop.sentAt];
    const sentAt = rawSentAt !== undefined && /^\d+$/.test(rawSentAt) ? Number(rawSentAt) : undefined;
    const from = { userId: toUserId(p[Prop.sendUserId]), userName: p[Prop.sendUserName] ?? '' };
    const to = toUserId(p[Prop.receiveUserId]) || frame.requestId || (this.#userId ?? 0);
    for (const text of texts) {
      const message: ChatMessage = { msgId, from, to, text, sentAt, receivedAt, offline: frame.cmd === Command.OFFLINE };
      try {
        this.emit('message', message);
      } catch (err) {
        this.#emitError(new CimClientError(ClientErrorCode.LISTENER, `a message listener threw: ${errorText(err)}`, { cause: err }));
      }
    }
  }

  /** Emits `error` only when someone listens: an unhandled 'error' event would crash the process. */
  #emitError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else this.#log.warn({ err }, 'client error (no error listener)');
  }

  #closedError(): CimClientError {
    return new CimClientError(ClientErrorCode.CLOSED, 'the client is closed');
  }
}

/** Failures of the first connect worth another attempt: the network, not the account. */
function isTransient(err: unknown): boolean {
  return (
    err instanceof CimClientError &&
    (err.code === ClientErrorCode.ROUTE_UNAVAILABLE || err.code === ClientErrorCode.CONNECT_FAILED || err.code === ClientErrorCode.TIMEOUT)
  );
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, `${name} must be a positive number, got ${value}`);
  return value;
}

function toUserId(value: string | undefined): number {
  if (value === undefined || !/^\d+$/.test(value)) return 0;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : 0;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
