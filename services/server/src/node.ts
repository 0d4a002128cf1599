/**
 * The server core: the SessionHost of every transport (open, frame, closed), the per-session frame
 * queue, pushes from routes (fan-out through the hub), heartbeat eviction and presence refresh.
 * Login, messages, receipts/sync, replay and drain live in their own modules.
 */
import { Command, COMMAND_NAMES, decodeMessage, PONG_BODY, Prop, type CimFrame } from '../../common/src/codec.ts';
import type { PushRequest, PushResult } from '../../common/src/push.ts';
import { closeSession, type ServerNodeOptions } from './context.ts';
import { drainSessions } from './drain.ts';
import { findExpiredSessions } from './heartbeat.ts';
import { Hub } from './hub.ts';
import { FrameRateLimiter, PendingFrames, RECEIPT_COST } from './limits.ts';
import { LoginHandler } from './login.ts';
import { MessageHandler } from './message-handler.ts';
import { ReceiptHandler } from './receipts.ts';
import { InboxReplayer } from './replay.ts';
import type { SessionHost } from './session-host.ts';
import { Session, type CloseReason, type TransportPort } from './session.ts';
import { EncodedFrame } from './transport/encoded-frame.ts';

export type { ServerNodeOptions } from './context.ts';

const PONG = new EncodedFrame(PONG_BODY);
const EVICTIONS = new Set<CloseReason>(['heartbeat-timeout', 'login-timeout', 'slow-consumer', 'bad-frame', 'oversize-frame', 'rate-limited']);
const PUSH_CMDS = { MESSAGE: Command.MESSAGE, OFFLINE: Command.OFFLINE, RECEIPT: Command.RECEIPT, PRESENCE: Command.PRESENCE } as const;

/** Failed logouts remembered for a retry at most; beyond, a route left behind expires with its TTL. */
const MAX_LOGOUTS_DUE = 100_000;

export class ServerNode implements SessionHost {
  readonly hub = new Hub();
  readonly #o: ServerNodeOptions;
  readonly #replayer: InboxReplayer;
  readonly #login: LoginHandler;
  readonly #messages: MessageHandler;
  readonly #receipts: ReceiptHandler;
  /** per-session promise chain: frames of one client are handled in order */
  readonly #queues = new WeakMap<Session, Promise<void>>();
  /** per-session cost limits: frame rate, and frames read but not handled yet (read backpressure) */
  readonly #limits = new WeakMap<Session, { rate: FrameRateLimiter; pending: PendingFrames }>();
  /**
   * Users gone from this server whose route may still name it: the logout at close failed, or a presence refresh
   * (which writes back a missing route of every user it was given) ran while their session closed. Retried with
   * every refresh; a route left behind would refuse the user's next login (policy reject) until it expired.
   */
  readonly #logoutsDue = new Set<number>();
  #draining = false;

  constructor(options: ServerNodeOptions) {
    this.#o = options;
    this.#replayer = new InboxReplayer(options);
    this.#login = new LoginHandler(options, this.hub, this.#replayer, () => this.#draining);
    this.#messages = new MessageHandler(options);
    this.#receipts = new ReceiptHandler(options, this.#replayer);
  }

  get selfId(): string {
    return this.#o.selfId;
  }

  get draining(): boolean {
    return this.#draining;
  }

  // ---- SessionHost ---------------------------------------------------------------------------

  open(transport: TransportPort): Session {
    const session = new Session(transport, this.#o.clock.now());
    this.#limits.set(session, { rate: new FrameRateLimiter(this.#o.rateLimit ?? { maxMsgRate: 0, msgBurst: 0 }, session.connectedAt), pending: new PendingFrames() });
    this.hub.add(session);
    this.#o.metrics.connections.inc({ transport: transport.kind });
    if (this.#draining) session.close('shutdown');
    return session;
  }

  closed(session: Session): void {
    if (!session.markClosed()) return;
    const reason = session.closeReason ?? 'client-closed';
    this.#o.metrics.connections.dec({ transport: session.transport.kind });
    this.#o.metrics.closes.inc({ reason });
    if (EVICTIONS.has(reason)) this.#o.metrics.evictions.inc({ reason });
    const wasCurrent = this.hub.remove(session);
    this.#o.metrics.users.set(this.hub.userCount);
    if (session.userId !== 0) this.#o.log.debug({ userId: session.userId, reason, transport: session.transport.kind }, 'client disconnected');
    if (wasCurrent) {
      // Only the route naming this server is removed: a user who already logged in elsewhere stays online. A newer
      // login of the user here may be writing that route right now: cleared once it is over, if it bound no session.
      const { userId, userName } = session;
      this.#login.afterLogins(userId, () => {
        if (this.hub.session(userId)) return;
        this.#clearPresence(userId);
        void this.#o.presence?.offline(userId, userName);
      });
    }
  }

  frame(session: Session, body: Uint8Array): void {
    if (!session.open) return;
    let frame: CimFrame;
    try {
      frame = decodeMessage(body);
    } catch (err) {
      this.reject(session, 'bad-frame', (err as Error).message);
      return;
    }
    const now = this.#o.clock.now();
    session.touch(now);
    this.#o.metrics.framesIn.inc({ cmd: COMMAND_NAMES[frame.cmd] ?? 'UNKNOWN' });
    const limits = this.#limits.get(session)!;
    // Every frame costs a token, PING too (a PING flood is as costly as any), receipts a fraction: refused frames are not handled.
    const admission = limits.rate.admit(now, frame.cmd === Command.RECEIPT ? RECEIPT_COST : 1);
    if (admission === 'cut-off') {
      this.reject(session, 'rate-limited', 'kept sending far above --max-msg-rate after being refused');
      // Reading what a flooder still sends until the close completes would cost as much as the flood.
      session.transport.pauseReading?.();
      return;
    }
    if (frame.cmd === Command.PING) {
      // Answered at once, outside the per-session queue: a heartbeat must not wait behind messages.
      if (admission === 'accept' && session.writeEncoded(Command.PING, PONG)) this.#o.metrics.messagesOut.inc({ cmd: 'PING' });
      return;
    }
    if (admission === 'refuse') {
      // Only MESSAGE has an answer to carry the refusal; other refused frames are dropped (SYNC and RECEIPT are sent again by the SDK).
      if (frame.cmd === Command.MESSAGE) this.#messages.refuseRateLimited(session, frame);
      this.#checkBackpressure(session);
      return;
    }
    // Read backpressure: past the bound the transport stops reading until the queue drains.
    if (limits.pending.add(body.length)) session.transport.pauseReading?.();
    const previous = this.#queues.get(session) ?? Promise.resolve();
    const next = previous
      .then(() => this.#dispatch(session, frame))
      .catch((err: unknown) => {
        this.#o.log.error({ err, userId: session.userId, cmd: frame.cmd }, 'frame handling failed');
        // Every in-band MESSAGE gets an answer, also when its handling failed unexpectedly.
        if (frame.cmd === Command.MESSAGE) this.#messages.answerFailure(session, frame);
      })
      .finally(() => {
        if (limits.pending.done(body.length) && session.open) session.transport.resumeReading?.();
      });
    this.#queues.set(session, next);
  }

  reject(session: Session, reason: CloseReason, detail: string): void {
    closeSession(this.#o.log, session, reason, detail);
  }

  async #dispatch(session: Session, frame: CimFrame): Promise<void> {
    if (!session.open) return;
    switch (frame.cmd) {
      case Command.LOGIN_REQUEST:
        return this.#login.handle(session, frame);
      case Command.MESSAGE:
        return this.#messages.handle(session, frame);
      case Command.RECEIPT:
        return this.#receipts.receipt(session, frame);
      case Command.SYNC:
        return this.#receipts.sync(session, frame);
      default:
        // CIM ignores OFFLINE and unknown commands from clients; so do we (they are not errors).
        return;
    }
  }

  // ---- pushes ------------------------------------------------------------------------------

  /** Writes a push to local sessions (route -> server, or the local shortcut). */
  handlePush(request: PushRequest): PushResult {
    const started = performance.now();
    const cmdName = request.cmd ?? 'MESSAGE';
    const cmd = PUSH_CMDS[cmdName];
    const batch = request.batchMsg && request.batchMsg.length > 0 ? [...request.batchMsg] : undefined;
    const content = batch ? { batchReqMsg: batch } : { reqMsg: request.msg ?? '' };
    let delivered = 0;
    const offline: number[] = [];
    const written = (session: Session) => {
      this.#o.metrics.messagesOut.inc({ cmd: cmdName });
      this.#checkBackpressure(session);
    };
    if (request.broadcast) {
      // One encode for everyone: no per-session fields in a broadcast frame.
      for (const s of this.hub.broadcast({ cmd, properties: { ...request.properties }, ...content }, new Set(request.excludeUserIds ?? []))) {
        delivered++;
        written(s);
      }
    }
    const receivers = request.receivers ?? [];
    for (let i = 0; i < receivers.length; i++) {
      const userId = receivers[i]!;
      // A named group's message has one seq per member inbox (`seqs`, same index as receivers).
      const own = request.seqs?.[i];
      const seq = own !== undefined ? String(own) : request.properties[Prop.seq];
      // A receipt names the reader in receiveUserId; messages name their receiver.
      const properties = cmd === Command.RECEIPT || cmd === Command.PRESENCE ? { ...request.properties } : { ...request.properties, [Prop.receiveUserId]: String(userId), ...(own !== undefined ? { [Prop.seq]: String(own) } : {}) };
      // Every session of the user (one per device with --login-policy multi) but the device that sent a carbon copy.
      let reached = false;
      for (const session of this.hub.sessionsOf(userId)) {
        if (request.exceptDevice !== undefined && session.device === request.exceptDevice) continue;
        const result = this.#writePush(session, userId, cmd, seq, properties, content);
        if (result !== 'not-written') reached = true;
        if (result === 'written') written(session);
      }
      if (reached) delivered++;
      else offline.push(userId);
    }
    const sentAt = Number(request.properties[Prop.sentAt] ?? 0);
    const now = this.#o.clock.now();
    if (delivered > 0 && sentAt > 0 && now >= sentAt) this.#o.metrics.deliveryLatency.observe((now - sentAt) / 1000);
    this.#o.metrics.pushLatency.observe((performance.now() - started) / 1000);
    return { delivered, offline };
  }

  /** One push frame to one session: written now, written before (a CIM client's replay raced it), or not. */
  #writePush(session: Session, userId: number, cmd: number, seq: string | undefined, properties: Record<string, string>, content: { batchReqMsg: string[] } | { reqMsg: string }): 'written' | 'already' | 'not-written' {
    // CIM's clients cannot acknowledge: a stored message written to one leaves the inbox now, and is
    // never written to it twice (live push and login replay may race). Nor can they tell a carbon copy.
    const cimSeq = cmd === Command.MESSAGE && !session.speaksExtensions && seq !== undefined && /^\d{1,15}$/.test(seq) ? Number(seq) : undefined;
    if (cimSeq !== undefined && session.wroteStored(cimSeq)) return 'already';
    if (cimSeq !== undefined && properties[Prop.carbonTo] !== undefined) return 'not-written'; // a carbon copy: CIM's clients cannot tell it; replay acks it
    // PRESENCE is an extension frame: CIM's clients never get it.
    if (cmd === Command.PRESENCE && !session.speaksExtensions) return 'not-written';
    if (session.status !== 'ready' || !session.write({ requestId: userId, cmd, properties, ...content })) return 'not-written';
    if (cimSeq !== undefined) {
      session.noteStoredWrite(cimSeq);
      this.#replayer.ackForCimClient(userId, cimSeq, session.inboxDevice);
    }
    return 'written';
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

  /**
   * Extends the presence of every local user; closes sessions whose user logged in elsewhere; clears the routes
   * of users gone meanwhile (#logoutsDue).
   */
  async refreshPresence(): Promise<void> {
    const userIds = this.hub.userIds();
    if (userIds.length > 0) {
      const { movedElsewhere } = await this.#o.store.refreshPresence(this.#o.selfId, userIds, this.#o.presenceTtlMs);
      for (const userId of movedElsewhere) {
        for (const session of [...this.hub.sessionsOf(userId)]) this.reject(session, 'moved-elsewhere', 'the user is now routed to another server');
      }
      for (const userId of userIds) if (!this.hub.session(userId)) this.#logoutsDue.add(userId);
    }
    for (const userId of this.#logoutsDue) {
      this.#logoutsDue.delete(userId);
      // As at close: after any login of the user here is over, and only if it left no session.
      this.#login.afterLogins(userId, () => {
        if (!this.hub.session(userId)) this.#clearPresence(userId);
      });
    }
  }

  /** Removes the user's route if it names this server; a failure is retried with the next presence refresh. */
  #clearPresence(userId: number): void {
    this.#o.store.logout(userId, this.#o.selfId).catch((err: unknown) => {
      if (this.#logoutsDue.size < MAX_LOGOUTS_DUE) this.#logoutsDue.add(userId);
      this.#o.log.warn({ err, userId }, 'clearing presence failed; tried again with the next presence refresh');
    });
  }

  /** Stops logins, sends GOAWAY 1001 (reconnect) to every client, closes it and clears presence. */
  async drain(): Promise<void> {
    this.#draining = true;
    await drainSessions(this.hub, this.#o.store, this.#o.selfId, this.#o.log);
  }
}
