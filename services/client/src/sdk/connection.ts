/**
 * The connection lifecycle: one state machine, one connection at a time, one way to finish.
 *
 *   idle ──connect()──▶ connecting ──▶ ready ──(drop, GOAWAY reconnect, no pong)──▶ reconnecting ──(backoff)──▶ connecting ─▶ …
 *   any state ──▶ closed: close(), a failed first connect, retryStrategy → null, terminal advice (4100, 4101)
 *
 * Every way to `closed` goes through #finish (flush acks, stop the connection, reject sends, log out).
 * Every callback of a connection checks the epoch it was opened in, so a late frame or close of an old
 * socket cannot touch the current one. The client goes `ready` synchronously on LOGIN_RESPONSE, so
 * frames of the same read (the pending inbox, a GOAWAY) already see a ready client.
 */
import { CloseCodes } from '../../../common/src/codes.ts';
import { Command, type CimFrame } from '../../../common/src/codec.ts';
import { ClientErrorCode, CimClientError } from './errors.ts';
import type { ClientState, StateChange } from './events.ts';
import { Heartbeat } from './heartbeat.ts';
import { disconnectAdvice, LoginHandshake, terminalError, type LoginAccepted } from './login.ts';
import type { ResolvedOptions } from './options.ts';
import type { RouteApi, ServerAssignment } from './route-api.ts';
import { RouteSession } from './route-session.ts';
import { errorText, isTerminal, isTransient, LOGOUT_RETRY_DELAYS_MS, registerWithRetry, retryTransient, sleep } from './retry.ts';
import { openConnection, type Connection } from './transport.ts';
import { cimLoginFrame, cimPingFrame, type CimRoute, type Mode } from './cim-mode.ts';

/** What the rest of the client does at each step of the lifecycle. */
export interface LifecycleHooks {
  state(change: StateChange): void;
  /** LOGIN_RESPONSE 9000: the pending inbox follows. */
  loggedIn(accepted: LoginAccepted): void;
  /** Every frame of a logged-in connection except the lifecycle's own (PING, GOAWAY). */
  frame(frame: CimFrame): void;
  /** The ready connection is gone; a reconnect follows. */
  lost(): void;
  /** Last writes on the open connection before the client closes (flush acknowledgements). */
  beforeClose(): void;
  /** The client is closed: reject what waits with `err`. */
  closed(err: Error): void;
  error(err: Error): void;
}

export class Lifecycle {
  readonly #o: ResolvedOptions;
  readonly #hooks: LifecycleHooks;
  /** Login, tokens, logout and the protocol chosen: the client's session with the route. */
  readonly session: RouteSession;
  /** CIM mode: the epoch whose first pong (proof the server has our LOGIN_REQUEST) triggers /fetchOfflineMsgs. */
  #fetchOfflineOnPong: number | undefined;
  readonly #abort = new AbortController();
  #state: ClientState = 'idle';
  /** Incremented for every connection attempt and teardown; callbacks of older epochs are ignored. */
  #epoch = 0;
  #userId: number | undefined;
  #loginAttempted = false;
  #connection: Connection | undefined;
  #handshake: LoginHandshake | undefined;
  #heartbeat: Heartbeat | undefined;
  #connectedAt: number | undefined;
  #reconnects = 0;
  #finishing: Promise<void> | undefined;

  constructor(options: ResolvedOptions, hooks: LifecycleHooks) {
    this.#o = options;
    this.#hooks = hooks;
    this.#userId = options.userId;
    this.session = new RouteSession(options);
  }

  /** 'cim' or 'native' once known (always, unless protocol is 'auto' and no /login answered yet). */
  get mode(): Mode | undefined {
    return this.session.mode;
  }

  get route(): RouteApi {
    return this.session.route;
  }

  get cimRoute(): CimRoute {
    return this.session.cimRoute;
  }

  get state(): ClientState {
    return this.#state;
  }
  get userId(): number | undefined {
    return this.#userId;
  }
  get signal(): AbortSignal {
    return this.#abort.signal;
  }
  get server(): ServerAssignment | undefined {
    const g = this.session.grant;
    return g ? { ip: g.ip, cimServerPort: g.cimServerPort, httpPort: g.httpPort, wsPath: g.wsPath } : undefined;
  }
  get remote(): string | undefined {
    return this.#connection?.remote;
  }
  get connectedAt(): number | undefined {
    return this.#connectedAt;
  }
  get reconnects(): number {
    return this.#reconnects;
  }

  /** Writes on the logged-in connection (ready, or between LOGIN_RESPONSE and ready); false otherwise. */
  write(frame: Partial<CimFrame>): boolean {
    const connection = this.#connection;
    if (!connection || this.#handshake !== undefined || this.#state === 'closed') return false;
    if (!connection.send(frame)) return false;
    this.#heartbeat?.noteWrite();
    return true;
  }

  /** See CimClient.connect(). */
  async connect(): Promise<void> {
    if (this.#state !== 'idle') throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, `connect() is only valid once, in state idle (state is ${this.#state})`);
    this.#setState('connecting', { reason: 'connect()' });
    try {
      if (this.#o.register) this.#userId = await registerWithRetry(this.route, this.#o, this.#userId, this.#abort.signal);
      for (let attempt = 1; ; attempt++) {
        try {
          await this.#establish(false);
          return;
        } catch (err) {
          const delayMs = !this.#isClosed() && attempt < this.#o.connectAttempts && isTransient(err) ? this.#o.retryStrategy(attempt) : null;
          if (delayMs === null) throw err;
          this.#o.logger.info({ attempt, delayMs, reason: errorText(err) }, 'connect attempt failed, retrying');
          this.#teardown('connect attempt failed');
          await sleep(delayMs, this.#abort.signal);
          // A login the route accepted but the server did not complete would answer 5000 next time.
          await this.session.offLine(this.#userId ?? 0, this.#abort.signal, true).catch(() => undefined);
        }
      }
    } catch (err) {
      if (this.#isClosed()) throw closedError();
      await this.finish(errorText(err), closedError());
      throw err;
    }
  }

  /**
   * The one way to `closed`: flush, stop the connection, reject what waits with `rejectWith`, report
   * `report` as an error event when given, log out of the route. Idempotent.
   */
  finish(reason: string, rejectWith: Error, report?: Error): Promise<void> {
    this.#finishing ??= (async () => {
      const wasLoggedIn = this.#loginAttempted;
      if (this.#state === 'ready') this.#hooks.beforeClose();
      this.#abort.abort(closedError());
      this.#teardown(reason);
      this.#setState('closed', { reason });
      this.#hooks.closed(rejectWith);
      if (report) this.#hooks.error(report);
      // Replaced by a newer login of the user: the presence is that session's now, not ours to clear.
      const replaced = report instanceof CimClientError && report.code === ClientErrorCode.REPLACED;
      if (wasLoggedIn && this.#userId !== undefined && !replaced) {
        const userId = this.#userId;
        await retryTransient(() => this.session.offLine(userId, this.#isClosed() ? undefined : this.#abort.signal), LOGOUT_RETRY_DELAYS_MS).catch((err: unknown) =>
          this.#o.logger.warn({ err }, 'logout (/offLine) failed'),
        );
      }
    })();
    return this.#finishing;
  }

  /** route /login → open → LOGIN_REQUEST; resolves once ready (set by the LOGIN_RESPONSE handler). */
  async #establish(isReconnect: boolean): Promise<void> {
    const epoch = ++this.#epoch;
    const userId = this.#userId!;
    this.#loginAttempted = true;
    const grant = await this.session.login(userId, this.#abort.signal);
    this.#assertEpoch(epoch);
    const cim = this.session.mode === 'cim';
    const connection = await openConnection(
      cim ? 'tcp' : this.#o.transport,
      grant,
      { onFrame: (frame) => this.#onFrame(epoch, frame), onClose: (reason) => this.#onClose(epoch, reason) },
      { timeoutMs: this.#o.requestTimeoutMs, signal: this.#abort.signal, maxFrameBytes: this.#o.maxFrameBytes, via: cim ? 'direct' : this.#o.via, routeUrl: this.route.baseUrl, tls: this.#o.tls },
    );
    if (epoch !== this.#epoch || this.#isClosed()) {
      connection.close('superseded');
      throw closedError();
    }
    this.#connection = connection;
    if (cim) {
      // CIM never answers a login: ready once written. The PING right after it is answered only after the
      // server handled the login (one channel, in order), so its pong is when the offline fetch may start.
      if (!connection.send(cimLoginFrame(userId, this.#o.userName)) || !connection.send(cimPingFrame(userId))) {
        throw new CimClientError(ClientErrorCode.CONNECT_FAILED, `connection to ${connection.remote} closed during login`);
      }
      this.#fetchOfflineOnPong = epoch;
      this.#becomeReady(epoch, { maxSeq: undefined });
      if (isReconnect) this.#reconnects++;
      return;
    }
    const handshake = new LoginHandshake(connection, { userId, userName: this.#o.userName, token: grant.token, timeoutMs: this.#o.requestTimeoutMs, device: this.#o.device });
    this.#handshake = handshake;
    try {
      await handshake.done;
    } finally {
      if (this.#handshake === handshake) this.#handshake = undefined;
    }
    if (isReconnect) this.#reconnects++;
  }

  #onFrame(epoch: number, frame: CimFrame): void {
    if (epoch !== this.#epoch || epoch === this.#refusedEpoch) return;
    this.#heartbeat?.noteRead();
    const handshake = this.#handshake;
    if (handshake) {
      if (frame.cmd === Command.LOGIN_RESPONSE) {
        this.#handshake = undefined;
        const accepted = handshake.answer(frame);
        if (accepted) this.#becomeReady(epoch, accepted);
        // Refused: the handshake's error (with the server's code) is the answer; the GOAWAY that follows
        // in the same read must not close the client under it with a vaguer reason.
        else this.#refusedEpoch = epoch;
      } else if (frame.cmd === Command.GOAWAY) {
        const advice = disconnectAdvice(frame);
        handshake.fail(advice.reconnect ? new CimClientError(ClientErrorCode.CONNECT_FAILED, advice.reason) : terminalError(advice));
      }
      return;
    }
    if (frame.cmd === Command.PING) {
      // pong: liveness is already noted
      if (this.#fetchOfflineOnPong === epoch) {
        this.#fetchOfflineOnPong = undefined;
        const userId = this.#userId!;
        void this.cimRoute.fetchOfflineMsgs(userId, this.#abort.signal).catch((err: unknown) => this.#o.logger.warn({ err }, '/fetchOfflineMsgs failed'));
      }
      return;
    }
    if (frame.cmd === Command.GOAWAY) {
      const advice = disconnectAdvice(frame);
      this.#o.logger.info({ code: advice.code, reason: frame.reqMsg }, 'GOAWAY received');
      if (!advice.reconnect) void this.finish(advice.reason, terminalError(advice), terminalError(advice));
      else this.#lose(advice.reason, advice.code === CloseCodes.shutdown.code);
      return;
    }
    this.#hooks.frame(frame);
  }

  /** The epoch whose LOGIN_RESPONSE refused the login: its later frames are not ours to act on. */
  #refusedEpoch = -1;

  #onClose(epoch: number, reason: string): void {
    if (epoch !== this.#epoch) return;
    this.#connection = undefined;
    const handshake = this.#handshake;
    if (handshake) handshake.fail(new CimClientError(ClientErrorCode.CONNECT_FAILED, `connection closed during login: ${reason}`));
    else this.#lose(reason, false);
  }

  #becomeReady(epoch: number, accepted: LoginAccepted): void {
    const connection = this.#connection!;
    this.#heartbeat = new Heartbeat({
      intervalMs: this.#o.heartbeatIntervalMs,
      // CIM mode: a PING every interval exactly (CIM's write-idle rule); the heartbeat waits for the pong
      // before it pings again, so the pong bound must not exceed the interval.
      pongTimeoutMs: this.session.mode === 'cim' ? Math.min(this.#o.pongTimeoutMs, this.#o.heartbeatIntervalMs) : this.#o.pongTimeoutMs,
      sendPing: () => connection.send({ cmd: Command.PING, requestId: this.#userId!, reqMsg: 'ping' }),
      onDead: (silentForMs) => {
        if (epoch !== this.#epoch) return;
        this.#o.logger.warn({ remote: connection.remote, silentForMs }, 'no pong, connection considered dead');
        this.#lose(`no answer to PING within ${this.#o.pongTimeoutMs} ms (half-open connection)`, false);
      },
    });
    this.#heartbeat.start();
    this.#connectedAt = Date.now();
    this.#o.logger.info({ remote: connection.remote, maxSeq: accepted.maxSeq }, 'logged in');
    this.#hooks.loggedIn(accepted);
    this.#setState('ready', { server: this.server! });
  }

  /** The ready connection is gone: hand back unacknowledged work and reconnect. */
  #lose(reason: string, atOnce: boolean): void {
    if (this.#state !== 'ready') return;
    this.#o.logger.warn({ reason }, 'connection lost');
    this.#teardown(reason);
    this.#hooks.lost();
    void this.#reconnect(reason, atOnce);
  }

  async #reconnect(firstReason: string, atOnce: boolean): Promise<void> {
    let reason = firstReason;
    for (let attempt = 1; ; attempt++) {
      if (this.#isClosed()) return;
      let delayMs = this.#o.retryStrategy(attempt);
      if (delayMs === null) {
        const err = new CimClientError(ClientErrorCode.RECONNECT_GAVE_UP, `gave up reconnecting after ${attempt - 1} attempts (retryStrategy returned null); last error: ${reason}`);
        return this.finish(err.message, err, err);
      }
      // A draining server (1001) asks everyone back at once: spread them over the first delay only.
      if (atOnce && attempt === 1) delayMs = Math.round(this.#o.random() * delayMs);
      this.#setState('reconnecting', { reason, attempt, delayMs });
      try {
        await sleep(delayMs, this.#abort.signal);
      } catch {
        return; // closed while waiting
      }
      this.#setState('connecting', { attempt });
      try {
        // A fresh access token first (the old one may have expired while we were away), then clear our own
        // stale route (only if it still names our old server), or the route answers 5000.
        await this.session.renewTokens(this.#userId, this.#abort.signal);
        await this.session.offLine(this.#userId ?? 0, this.#abort.signal, true).catch((err: unknown) => this.#o.logger.debug({ err }, 'offLine before reconnect failed'));
        await this.#establish(true);
        return;
      } catch (err) {
        if (this.#isClosed()) return;
        if (err instanceof CimClientError && !err.retryable && isTerminal(err)) return this.finish(err.message, err, err);
        reason = errorText(err);
        this.#o.logger.info({ attempt, reason }, 'reconnect attempt failed');
        this.#teardown(reason);
      }
    }
  }

  #teardown(reason: string): void {
    this.#heartbeat?.stop();
    this.#heartbeat = undefined;
    this.#connectedAt = undefined;
    this.#handshake?.fail(closedError());
    this.#handshake = undefined;
    const connection = this.#connection;
    this.#connection = undefined;
    this.#epoch++; // first, so this very connection's close callback is ignored
    connection?.close(reason);
  }

  /** A method, not a comparison, so TypeScript does not narrow #state across awaits. */
  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #assertEpoch(epoch: number): void {
    if (epoch !== this.#epoch || this.#isClosed()) throw closedError();
  }

  #setState(to: ClientState, details: Omit<StateChange, 'from' | 'to'> = {}): void {
    const from = this.#state;
    if (from === 'closed') return;
    this.#state = to;
    this.#o.logger.debug({ from, to, ...details }, 'state');
    this.#hooks.state({ from, to, ...details });
  }
}


export function closedError(): CimClientError {
  return new CimClientError(ClientErrorCode.CLOSED, 'the client is closed');
}
