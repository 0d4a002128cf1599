/**
 * The server's core: sessions of every transport, their frames (login, ping, in-band messages),
 * pushes from routes, heartbeat eviction and presence refresh. Transports and HTTP stay thin.
 */
import { verifyToken } from '../../common/src/auth.ts';
import { Command, COMMAND_NAMES, decodeMessage, PONG_BODY, Prop, type CimFrame } from '../../common/src/codec.ts';
import { encodeLengthPrefixed } from '../../common/src/framing.ts';
import type { Clock } from '../../common/src/clock.ts';
import type { Logger } from '../../common/src/log.ts';
import type { MessageRouter } from '../../common/src/message-router.ts';
import type { PushRequest, PushResult } from '../../common/src/push.ts';
import type { RouteStore } from '../../common/src/route-store/types.ts';
import { Status } from '../../common/src/status.ts';
import { findExpiredSessions, type HeartbeatPolicy } from './heartbeat.ts';
import { Hub } from './hub.ts';
import type { ServerMetrics } from './metrics.ts';
import { Session, type CloseReason, type TransportPort } from './session.ts';

export interface ServerNodeOptions {
  /** this server's `host:tcpPort:httpPort` */
  readonly selfId: string;
  readonly store: RouteStore;
  readonly router: MessageRouter;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: ServerMetrics;
  readonly policy: HeartbeatPolicy;
  readonly presenceTtlMs: number;
  readonly maxQueueBytes: number;
  readonly authSecret?: string | undefined;
}

const PONG_TCP = encodeLengthPrefixed(PONG_BODY);
const MAX_USER_NAME = 128;
const EVICTIONS = new Set<CloseReason>(['heartbeat-timeout', 'login-timeout', 'slow-consumer', 'bad-frame', 'oversize-frame']);

export class ServerNode {
  readonly hub = new Hub();
  readonly #o: ServerNodeOptions;
  /** per-session promise chain: frames of one client are handled in order */
  readonly #queues = new WeakMap<Session, Promise<void>>();
  #draining = false;

  constructor(options: ServerNodeOptions) {
    this.#o = options;
  }

  get selfId(): string {
    return this.#o.selfId;
  }

  get draining(): boolean {
    return this.#draining;
  }

  // ---- connections --------------------------------------------------------------------------

  /** Called by a transport for each new connection. */
  open(transport: TransportPort): Session {
    const session = new Session(transport, this.#o.clock.now());
    this.hub.add(session);
    this.#o.metrics.connections.inc({ transport: transport.kind });
    if (this.#draining) session.close('shutdown');
    return session;
  }

  /** Called by a transport once its connection is closed, whoever closed it. */
  closed(session: Session): void {
    if (session.status === 'closed') return;
    session.status = 'closed';
    const reason = session.closeReason ?? 'client-closed';
    this.#o.metrics.connections.dec({ transport: session.transport.kind });
    this.#o.metrics.closes.inc({ reason });
    if (EVICTIONS.has(reason)) this.#o.metrics.evictions.inc({ reason });
    const wasCurrent = this.hub.remove(session);
    this.#o.metrics.users.set(this.hub.userCount);
    if (session.userId !== 0) this.#o.log.debug({ userId: session.userId, reason, transport: session.transport.kind }, 'client disconnected');
    if (wasCurrent) {
      // Only the route naming this server is removed: a user who already logged in elsewhere stays online.
      this.#o.store.logout(session.userId, this.#o.selfId).catch((err: unknown) => this.#o.log.warn({ err, userId: session.userId }, 'clearing presence failed'));
    }
  }

  /** A frame (protobuf body) from a client. Never throws: bad input closes that one connection. */
  handleFrame(session: Session, body: Uint8Array): void {
    let frame: CimFrame;
    try {
      frame = decodeMessage(body);
    } catch (err) {
      this.reject(session, 'bad-frame', (err as Error).message);
      return;
    }
    session.lastReadAt = this.#o.clock.now();
    this.#o.metrics.framesIn.inc({ cmd: COMMAND_NAMES[frame.cmd] ?? 'UNKNOWN' });
    if (frame.cmd === Command.PING) {
      // Answered at once, outside the per-session queue: a heartbeat must not wait behind messages.
      if (session.writeRaw(PONG_TCP, PONG_BODY)) this.#o.metrics.messagesOut.inc({ cmd: 'PING' });
      return;
    }
    const previous = this.#queues.get(session) ?? Promise.resolve();
    const next = previous.then(() => this.#dispatch(session, frame)).catch((err: unknown) => {
      this.#o.log.error({ err, userId: session.userId }, 'frame handling failed');
    });
    this.#queues.set(session, next);
  }

  /** Closes a connection because of what it sent, with a logged reason. */
  reject(session: Session, reason: CloseReason, detail: string): void {
    this.#o.log.info({ reason, detail, userId: session.userId || undefined, remote: session.transport.remoteAddress }, 'closing connection');
    session.close(reason);
  }

  async #dispatch(session: Session, frame: CimFrame): Promise<void> {
    if (session.status === 'closed') return;
    switch (frame.cmd) {
      case Command.LOGIN_REQUEST:
        return this.#handleLogin(session, frame);
      case Command.MESSAGE:
        return this.#handleMessage(session, frame);
      default:
        // CIM ignores OFFLINE and unknown commands from clients; so do we (they are not errors).
        return;
    }
  }

  async #handleLogin(session: Session, frame: CimFrame): Promise<void> {
    const userId = frame.requestId;
    const userName = frame.reqMsg;
    session.protocol = frame.properties[Prop.protocol] ?? '';
    const refuse = (code: string, reason: string) => {
      this.#o.metrics.logins.inc({ result: 'refused' });
      session.write({ cmd: Command.LOGIN_RESPONSE, requestId: userId, properties: { [Prop.code]: code, [Prop.reason]: reason } });
      this.reject(session, 'login-refused', reason);
    };
    if (session.status === 'ready') {
      if (userId === session.userId) session.write({ cmd: Command.LOGIN_RESPONSE, requestId: userId, properties: { [Prop.code]: Status.SUCCESS.code } });
      else refuse(Status.VALIDATION_FAIL.code, 'already logged in as another user on this connection');
      return;
    }
    if (!Number.isSafeInteger(userId) || userId <= 0 || userName === '' || userName.length > MAX_USER_NAME) {
      return refuse(Status.VALIDATION_FAIL.code, 'LOGIN_REQUEST needs requestId = userId > 0 and reqMsg = userName');
    }
    if (this.#draining) return refuse(Status.SERVER_NOT_AVAILABLE.code, 'server is shutting down');
    if (this.#o.authSecret) {
      const check = verifyToken(this.#o.authSecret, frame.properties[Prop.token], userId, this.#o.clock.now());
      if (!check.ok) return refuse(Status.UNAUTHORIZED.code, `token ${check.reason}`);
    }
    const account = await this.#o.store.getAccount(userId);
    if (!account || account.userName !== userName) return refuse(Status.ACCOUNT_NOT_MATCH.code, Status.ACCOUNT_NOT_MATCH.message);
    const { movedElsewhere } = await this.#o.store.refreshPresence(this.#o.selfId, [userId], this.#o.presenceTtlMs);
    if (movedElsewhere.includes(userId)) return refuse(Status.REPEAT_LOGIN.code, 'user is online on another server; log in through the route');
    if (session.status === 'closed') {
      if (!this.hub.session(userId)) await this.#o.store.logout(userId, this.#o.selfId);
      return;
    }
    session.userId = userId;
    session.userName = userName;
    session.status = 'ready';
    this.hub.bindUser(session)?.close('replaced');
    this.#o.metrics.users.set(this.hub.userCount);
    this.#o.metrics.logins.inc({ result: 'ok' });
    this.#o.log.debug({ userId, transport: session.transport.kind, protocol: session.protocol || '1' }, 'client logged in');
    session.write({ cmd: Command.LOGIN_RESPONSE, requestId: userId, properties: { [Prop.code]: Status.SUCCESS.code } });
    // Messages stored while the user was offline arrive at every login, not only when a client asks
    // (CIM fetched them once, 5 s after the client started, and never after a reconnect).
    this.#o.router.deliverOffline(userId).catch((err: unknown) => this.#o.log.warn({ err, userId }, 'offline delivery failed'));
  }

  async #handleMessage(session: Session, frame: CimFrame): Promise<void> {
    const msgId = frame.properties[Prop.msgId] ?? '';
    const ack = (code: string, reason?: string) =>
      session.write({ cmd: Command.MESSAGE_ACK, requestId: session.userId, properties: { [Prop.msgId]: msgId, [Prop.code]: code, ...(reason ? { [Prop.reason]: reason } : {}) } });
    if (session.status !== 'ready') {
      ack(Status.VALIDATION_FAIL.code, 'log in first');
      return this.reject(session, 'bad-frame', 'MESSAGE before LOGIN_REQUEST');
    }
    const hasBatch = frame.batchReqMsg.length > 0;
    if (frame.reqMsg === '' && !hasBatch) return void ack(Status.VALIDATION_FAIL.code, 'empty message');
    const from = { userId: session.userId, userName: session.userName };
    const receiver = frame.properties[Prop.receiveUserId];
    const content = hasBatch ? { batchMsg: frame.batchReqMsg, msgId } : { msg: frame.reqMsg, msgId };
    if (receiver === undefined || receiver === '') {
      if (hasBatch) return void ack(Status.VALIDATION_FAIL.code, 'group messages carry one text');
      await this.#o.router.sendGroup(from, content);
      return void ack(Status.SUCCESS.code);
    }
    if (!/^\d{1,16}$/.test(receiver) || Number(receiver) <= 0) return void ack(Status.VALIDATION_FAIL.code, 'receiveUserId must be a user id');
    const result = await this.#o.router.sendPrivate(from, Number(receiver), content);
    ack(result === 'delivered' ? Status.SUCCESS.code : Status.OFF_LINE.code, result === 'delivered' ? undefined : Status.OFF_LINE.message);
  }

  // ---- pushes ------------------------------------------------------------------------------

  /** Writes a push to local sessions (route -> server, or a local shortcut). */
  handlePush(request: PushRequest): PushResult {
    const started = performance.now();
    const cmd = request.cmd === 'OFFLINE' ? Command.OFFLINE : Command.MESSAGE;
    const cmdName = request.cmd ?? 'MESSAGE';
    const batch = request.batchMsg && request.batchMsg.length > 0 ? request.batchMsg : undefined;
    const sentAt = Number(request.properties[Prop.sentAt] ?? 0);
    let delivered = 0;
    const offline: number[] = [];
    const deliver = (userId: number, session: Session) => {
      const frame: Partial<CimFrame> = {
        requestId: userId,
        cmd,
        properties: { ...request.properties, [Prop.receiveUserId]: String(userId) },
        ...(batch ? { batchReqMsg: [...batch] } : { reqMsg: request.msg ?? '' }),
      };
      if (!session.write(frame)) return false;
      this.#checkBackpressure(session);
      this.#o.metrics.messagesOut.inc({ cmd: cmdName });
      return true;
    };
    if (request.broadcast) {
      const exclude = new Set(request.excludeUserIds ?? []);
      for (const [userId, session] of this.hub.users()) {
        if (!exclude.has(userId) && deliver(userId, session)) delivered++;
      }
    }
    for (const userId of request.receivers ?? []) {
      const session = this.hub.session(userId);
      if (session && session.status === 'ready' && deliver(userId, session)) delivered++;
      else offline.push(userId);
    }
    const now = this.#o.clock.now();
    if (delivered > 0 && sentAt > 0 && now >= sentAt) this.#o.metrics.deliveryLatency.observe((now - sentAt) / 1000);
    this.#o.metrics.pushLatency.observe((performance.now() - started) / 1000);
    return { delivered, offline };
  }

  #checkBackpressure(session: Session): void {
    if (session.transport.bufferedBytes() > this.#o.maxQueueBytes) {
      this.reject(session, 'slow-consumer', `more than ${this.#o.maxQueueBytes} bytes unsent; raise --max-queue-bytes if clients are legitimately slow`);
    }
  }

  // ---- timers ------------------------------------------------------------------------------

  /** Evicts silent clients and connections that never logged in. */
  sweep(): void {
    for (const [session, reason] of findExpiredSessions(this.hub.sessions(), this.#o.clock.now(), this.#o.policy)) {
      this.reject(session, reason, reason === 'heartbeat-timeout' ? 'no frame within the heartbeat timeout' : 'no LOGIN_REQUEST within the login timeout');
    }
  }

  /** Extends the presence of every local user; closes sessions whose user logged in elsewhere. */
  async refreshPresence(): Promise<void> {
    const userIds = this.hub.userIds();
    if (userIds.length === 0) return;
    const { movedElsewhere } = await this.#o.store.refreshPresence(this.#o.selfId, userIds, this.#o.presenceTtlMs);
    for (const userId of movedElsewhere) {
      const session = this.hub.session(userId);
      if (session) this.reject(session, 'moved-elsewhere', 'the user is now routed to another server');
    }
  }

  // ---- shutdown ----------------------------------------------------------------------------

  /** Tells every client to reconnect elsewhere and closes its connection; clears their presence. */
  async drain(): Promise<void> {
    this.#draining = true;
    const users = this.hub.userIds();
    for (const session of [...this.hub.sessions()]) {
      session.write({ cmd: Command.GOAWAY, requestId: session.userId, reqMsg: 'server shutting down; log in again' });
      session.close('shutdown');
    }
    await Promise.allSettled(users.map((userId) => this.#o.store.logout(userId, this.#o.selfId)));
  }
}
