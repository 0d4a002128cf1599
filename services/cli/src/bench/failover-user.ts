/**
 * A bench client that comes back by itself when its server dies, the way the SDK does (connection.ts):
 * jittered exponential backoff (common/backoff.ts), then /offLine of its own stale route (only while it
 * still names the server it had), then /login through the route and a new WebSocket + LOGIN_REQUEST.
 * The SDK's pieces without CimClient's bookkeeping, like bench-client.ts; it acknowledges what it
 * receives so the server's inbox replays only what never got through.
 */
import { backoffDelayMs, DEFAULT_BACKOFF } from '../../../common/src/backoff.ts';
import { Command, Prop, type CimFrame } from '../../../common/src/codec.ts';
import { formatServerAddress } from '../../../common/src/server-address.ts';
import { LoginHandshake } from '../../../client/src/sdk/login.ts';
import { parseSeq } from '../../../client/src/sdk/outbox.ts';
import { DeliveryAcks } from '../../../client/src/sdk/receipts.ts';
import { openConnection, type Connection } from '../../../client/src/sdk/transport.ts';
import type { RouteHttp } from './cim-user.ts';
import { now } from './stats.ts';

const TIMEOUT_MS = 30_000;
const PING_INTERVAL_MS = 10_000;

export interface FailoverHooks {
  onFrame(user: FailoverUser, frame: CimFrame): void;
  /** one /login call of a reconnect attempt: its duration and answer code ('error' when there was none) */
  onReconnectLogin(ms: number, code: string): void;
  onConnectFailure(): void;
  /** why a reconnect attempt failed */
  onAttemptFailed(reason: string): void;
}

export class FailoverUser {
  readonly userId: number;
  readonly userName: string;
  /** host:tcpPort:httpPort of the server of the last granted login */
  server = '';
  /** [lost at, back at (0 = not yet)] per connection loss */
  readonly outages: Array<[number, number]> = [];
  readonly #route: RouteHttp;
  readonly #hooks: FailoverHooks;
  #connection: Connection | undefined;
  #closed = false;

  constructor(route: RouteHttp, userId: number, userName: string, hooks: FailoverHooks) {
    this.#route = route;
    this.userId = userId;
    this.userName = userName;
    this.#hooks = hooks;
  }

  get up(): boolean {
    return this.#connection !== undefined;
  }

  /** The first login; rejects when it fails (no retry: the scenario counts it as a failed client). */
  start(): Promise<void> {
    return this.#session(false);
  }

  /** Writes a frame; false while disconnected. */
  send(frame: Partial<CimFrame>): boolean {
    return this.#connection?.send(frame) ?? false;
  }

  /**
   * Asks for every pending inbox entry: the SDK's periodic SYNC (every 30 s), the safety net for a live
   * push that went to a dead server after this client's login replay had read the inbox.
   */
  sync(): boolean {
    return this.send({ cmd: Command.SYNC, requestId: this.userId, properties: { [Prop.afterSeq]: '0' } });
  }

  close(): void {
    this.#closed = true;
    this.#connection?.close('bench finished');
  }

  async #session(isReconnect: boolean): Promise<void> {
    const t0 = now();
    let answer;
    try {
      answer = await this.#route.post('/login', { userId: this.userId, userName: this.userName, protocol: 2 });
    } catch (err) {
      if (isReconnect) this.#hooks.onReconnectLogin(now() - t0, 'error');
      throw err;
    }
    if (isReconnect) this.#hooks.onReconnectLogin(now() - t0, answer.code);
    if (answer.code !== '9000') throw new Error(`/login answered ${answer.code} ${answer.message}`);
    const d = (answer.dataBody ?? {}) as Record<string, unknown>;
    const endpoint = { ip: String(d['ip']), cimServerPort: Number(d['cimServerPort']), httpPort: Number(d['httpPort']), wsPath: typeof d['wsPath'] === 'string' ? d['wsPath'] : '/ws', timeoutMs: TIMEOUT_MS };
    // From here the route names this server: a failed attempt must clear this route, not the old one.
    this.server = formatServerAddress({ host: endpoint.ip, tcpPort: endpoint.cimServerPort, httpPort: endpoint.httpPort });
    let handshake: LoginHandshake | undefined;
    let ready = false;
    const acks = new DeliveryAcks({ write: (frame) => connection.send(frame), userId: () => this.userId, delayMs: 20, batchSize: 64 });
    let pinger: NodeJS.Timeout | undefined;
    let connection: Connection;
    try {
      connection = await openConnection('ws', endpoint, {
        onFrame: (frame) => {
          if (handshake && frame.cmd === Command.LOGIN_RESPONSE) return void handshake.answer(frame);
          this.#hooks.onFrame(this, frame);
          const seq = frame.cmd === Command.MESSAGE ? parseSeq(frame.properties[Prop.seq]) : undefined;
          if (seq !== undefined) acks.add(seq);
        },
        onClose: (reason) => {
          handshake?.fail(new Error(`connection closed during login: ${reason}`));
          acks.stop();
          clearInterval(pinger);
          if (ready) this.#lost();
        },
      }, { timeoutMs: TIMEOUT_MS, signal: new AbortController().signal, maxFrameBytes: 4 * 1024 * 1024, via: 'direct' });
      // Keeps the connection alive through long runs.
      pinger = setInterval(() => connection.send({ requestId: this.userId, reqMsg: 'ping', cmd: Command.PING }), PING_INTERVAL_MS);
      pinger.unref();
      handshake = new LoginHandshake(connection, { userId: this.userId, userName: this.userName, token: typeof d['token'] === 'string' ? d['token'] : '', timeoutMs: TIMEOUT_MS });
    } catch (err) {
      clearInterval(pinger);
      if (isReconnect) this.#hooks.onConnectFailure();
      throw err;
    }
    try {
      await handshake.done;
    } catch (err) {
      connection.close('login failed');
      if (isReconnect) this.#hooks.onConnectFailure();
      throw err;
    } finally {
      handshake = undefined;
    }
    if (this.#closed) return connection.close('bench finished');
    ready = true;
    this.#connection = connection;
    const outage = this.outages.at(-1);
    if (isReconnect && outage) outage[1] = now();
  }

  #lost(): void {
    this.#connection = undefined;
    if (this.#closed) return;
    this.outages.push([now(), 0]);
    void this.#reconnect();
  }

  async #reconnect(): Promise<void> {
    for (let attempt = 1; !this.#closed; attempt++) {
      await new Promise((r) => setTimeout(r, backoffDelayMs(attempt, DEFAULT_BACKOFF, Math.random)));
      if (this.#closed) return;
      // Our own route, only while it still names our last server: else the route answers 5000 until
      // ZooKeeper drops the dead server (it then takes the stale route over by itself).
      await this.#route.post('/offLine', { userId: this.userId, msg: 'offLine', server: this.server, keepSession: true }).catch(() => undefined);
      try {
        return await this.#session(true);
      } catch (err) {
        this.#hooks.onAttemptFailed((err as Error).message); // next attempt after the next backoff
      }
    }
  }
}
