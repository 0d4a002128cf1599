/**
 * CimClient: one user's session with a CIM cluster, as a thin facade over the modules that do the work:
 *
 *   options.ts     validation and defaults          connection.ts  the state machine (login, heartbeat, reconnect, close)
 *   login.ts       LOGIN handshake, GOAWAY advice   outbox.ts      pending sends: acks, retries, timeouts
 *   inbox.ts       dedup, seq order, gap → SYNC     receipts.ts    RECEIPT frames: delivered acks, read, incoming
 *
 * Delivery (docs/delivery.md): a private send resolves on SENT (stored in the receiver's inbox, with its
 * seq); a received private message is shown once (by sender + msgId, in a SeenStore that can outlive the
 * client) and acknowledged only after the 'message' listeners ran. Nothing is static: many clients can
 * live in one process.
 */
import { EventEmitter, once } from 'node:events';
import { Command, Prop, type CimFrame } from '../../../common/src/codec.ts';
import { closedError, Lifecycle } from './connection.ts';
import { ClientErrorCode, CimClientError } from './errors.ts';
import type { ChatMessage, ClientEvents, ClientInfo, ClientState, SendOptions, SendResult } from './events.ts';
import { Inbox, parseMessages } from './inbox.ts';
import { seenKey } from './seen-store.ts';
import { resolveOptions, type ClientOptions, type ResolvedOptions } from './options.ts';
import { Outbox } from './outbox.ts';
import { DeliveryAcks, parseReceipt, readReceiptFrames } from './receipts.ts';
import type { HistoryPage, OnlineUser } from './route-api.ts';
import { Groups } from './groups.ts';
import { FileTransfer, type Attachment, type Downloaded, type SendFileOptions } from './files.ts';
import { attachmentProperties, fileMessageText } from '../../../common/src/files/attachment.ts';
import type { Readable } from 'node:stream';
import { Contacts, parsePresence } from './contacts.ts';

export type { ChatMessage, ClientEvents, ClientInfo, ClientState, ReceiptEvent, SendOptions, SendResult, StateChange } from './events.ts';
export type { ClientOptions } from './options.ts';
export type { GroupInfo, GroupMemberInfo, GroupRole } from './groups.ts';
export type { Attachment, Downloaded, SendFileOptions } from './files.ts';
export type { ContactInfo, PresenceEvent } from './contacts.ts';

/** Creates a client and connects it; rejects (and leaves nothing running) when the first login fails. */
export async function createClient(options: ClientOptions): Promise<CimClient> {
  const client = new CimClient(options);
  await client.connect();
  return client;
}

export class CimClient extends EventEmitter<ClientEvents> {
  readonly #o: ResolvedOptions;
  readonly #life: Lifecycle;
  readonly #outbox: Outbox;
  readonly #acks: DeliveryAcks;
  readonly #inbox: Inbox;
  /** Named groups: create, join, leave, invite, remove, rename, setRole, mine, members (route calls with this session's token). */
  readonly groups: Groups;
  /** File messages' uploads and downloads (route PUT/GET /files, this session's token). */
  readonly #files: FileTransfer;
  /** Contacts: add, remove, list (with presence), onlyContacts; their changes arrive as 'presence' events. */
  readonly contacts: Contacts;
  #closing: Promise<void> | undefined;

  constructor(options: ClientOptions) {
    super();
    this.#o = resolveOptions(options);
    const o = this.#o;
    const self = this;
    this.#life = new Lifecycle(o, {
      state: (change) => {
        // Before the event: what waited goes out first, ahead of anything a 'ready' listener sends.
        if (change.to === 'ready') {
          this.#acks.flush();
          this.#outbox.flush();
        }
        this.emit('state', change);
      },
      loggedIn: (accepted) => this.#inbox.onLogin(accepted.maxSeq),
      frame: (frame) => this.#onFrame(frame),
      lost: () => this.#outbox.requeueInFlight(),
      beforeClose: () => void this.#acks.flush(),
      closed: (err) => {
        this.#outbox.rejectAll(err);
        this.#inbox.stop();
        this.#acks.stop();
      },
      error: (err) => this.#emitError(err),
    });
    const write = (frame: Partial<CimFrame>): boolean => this.#life.write(frame);
    const userId = (): number => this.#life.userId ?? 0;
    this.#outbox = new Outbox(
      {
        write,
        get ready() {
          return self.#life.state === 'ready';
        },
        get userId() {
          return userId();
        },
      },
      { sendTimeoutMs: o.sendTimeoutMs, maxQueuedSends: o.maxQueuedSends, sendRetryDelay: o.sendRetryDelay, logger: o.logger },
    );
    this.#acks = new DeliveryAcks({ write, userId, delayMs: o.receiptDelayMs, batchSize: o.receiptBatchSize });
    this.#inbox = new Inbox({
      seenStore: o.seenStore,
      acks: this.#acks,
      gapTimeoutMs: o.gapTimeoutMs,
      syncIntervalMs: o.syncIntervalMs,
      logger: o.logger,
      userId,
      write,
      emit: (message) => this.#emitMessage(message),
    });
    if (options.onMessage) this.on('message', options.onMessage);
    this.#files = new FileTransfer({
      baseUrl: this.#life.route.baseUrl,
      fetch: o.fetch ?? fetch,
      // A file is bigger than a route call: at least two minutes, first byte to last.
      timeoutMs: Math.max(o.requestTimeoutMs, 120_000),
      credentials: () => {
        const uid = this.#life.userId;
        if (uid === undefined || this.state === 'closed') throw this.state === 'closed' ? closedError() : new CimClientError(ClientErrorCode.INVALID_ARGUMENT, 'files need a login first (connect())');
        return { userId: uid, token: this.#life.session.accessToken };
      },
      refresh: () => this.#life.session.renewTokens(this.#life.userId, this.#life.signal),
      signal: () => this.#life.signal,
    });
    this.groups = new Groups((path, payload) => {
      if (this.state === 'closed') return Promise.reject(closedError());
      const uid = this.#life.userId;
      if (uid === undefined) return Promise.reject(new CimClientError(ClientErrorCode.INVALID_ARGUMENT, 'groups need a login first (connect())'));
      return this.#life.session.post(path, uid, payload, this.#life.signal);
    });
    this.contacts = new Contacts((path, payload) => {
      if (this.state === 'closed') return Promise.reject(closedError());
      const uid = this.#life.userId;
      if (uid === undefined) return Promise.reject(new CimClientError(ClientErrorCode.INVALID_ARGUMENT, 'contacts need a login first (connect())'));
      return this.#life.session.post(path, uid, payload, this.#life.signal);
    });
  }

  get state(): ClientState {
    return this.#life.state;
  }

  /** The user's id; known after connect() (or from the options). */
  get userId(): number | undefined {
    return this.#life.userId;
  }

  get userName(): string {
    return this.#o.userName;
  }

  /**
   * Registers when asked, logs in through the route, connects and sends LOGIN_REQUEST. Resolves in
   * state `ready`. Transient failures (route or server unreachable, timeouts) are retried up to
   * `connectAttempts` times with the reconnect backoff. Anything else (wrong account, duplicate login
   * 5000, refused login) fails at once: the client goes to `closed` and the error is thrown.
   */
  connect(): Promise<void> {
    return this.#life.connect();
  }

  /**
   * Sends a private message. `to` is a userId, or a userName looked up among the online users. Resolves
   * on SENT (stored in the receiver's inbox) with {msgId, seq, online}; rejects with RECEIVER_UNKNOWN
   * (7300), SEND_REFUSED, TIMEOUT, QUEUE_FULL or CLOSED. Retryable failures are retried with the same msgId.
   */
  async sendPrivate(to: number | string, text: string, options: SendOptions = {}): Promise<SendResult> {
    this.#assertSendable();
    let receiveUserId: number;
    if (typeof to === 'string') {
      const user = (await this.onlineUsers()).find((u) => u.userName === to);
      if (!user) throw new CimClientError(ClientErrorCode.USER_NOT_FOUND, `no online user is called "${to}"`);
      receiveUserId = user.userId;
    } else {
      if (!Number.isSafeInteger(to) || to <= 0) throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, `receiver must be a positive user id, got ${to}`);
      receiveUserId = to;
    }
    if ((this.#life.mode ?? (await this.#decidedMode())) === 'cim') return this.#life.cimRoute.p2p(this.#life.userId!, receiveUserId, checkText(text), this.#life.signal);
    return this.#outbox.send(text, { [Prop.receiveUserId]: String(receiveUserId) }, options);
  }

  /** Sends to everyone online except this user (live only, at most once). Resolves when the server accepted it. */
  async sendGroup(text: string, options: SendOptions = {}): Promise<SendResult> {
    this.#assertSendable();
    if ((this.#life.mode ?? (await this.#decidedMode())) === 'cim') return this.#life.cimRoute.group(this.#life.userId!, checkText(text), this.#life.signal);
    return this.#outbox.send(text, {}, options);
  }

  /**
   * Sends to a named group this user is a member of. Resolves on SENT (stored in every other member's inbox)
   * with {msgId, gseq}; rejects with SEND_REFUSED (serverCode 7320 not a member, 7330 no such group), TIMEOUT,
   * QUEUE_FULL or CLOSED. Retryable failures are retried with the same msgId (the same gseq).
   */
  async sendToGroup(groupId: number, text: string, options: SendOptions = {}): Promise<SendResult> {
    this.#assertSendable();
    if (!Number.isSafeInteger(groupId) || groupId <= 0) throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, `groupId must be a positive id, got ${groupId}`);
    if ((this.#life.mode ?? (await this.#decidedMode())) === 'cim') throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, "CIM's protocol has no named groups");
    return this.#outbox.send(text, { [Prop.groupId]: String(groupId) }, options);
  }

  /**
   * Sends a file message (docs/delivery.md "File messages"): uploads the file (a path, Buffer or stream) to the
   * route, then sends a private message "[file] name (size)" carrying its attachment. Resolves on SENT with the
   * attachment; rejects with ROUTE_REJECTED (serverCode 7500 too large, 7510 type refused) or as sendPrivate.
   */
  async sendFile(to: number, file: string | Buffer | Uint8Array | Readable, options: SendFileOptions = {}): Promise<SendResult & { attachment: Attachment }> {
    this.#assertSendable();
    if (!Number.isSafeInteger(to) || to <= 0) throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, `receiver must be a positive user id, got ${to}`);
    if ((this.#life.mode ?? (await this.#decidedMode())) === 'cim') throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, "CIM's protocol has no file messages");
    const attachment = await this.#files.upload(file, options);
    const sendOptions = { ...(options.msgId !== undefined ? { msgId: options.msgId } : {}), ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) };
    const sent = await this.#outbox.send(fileMessageText(attachment), { [Prop.receiveUserId]: String(to), ...attachmentProperties(attachment) }, sendOptions);
    return { ...sent, attachment };
  }

  /** Downloads a file message's attachment into a directory (keeping its name) or to a new file path. */
  download(attachment: Attachment, destination: string): Promise<Downloaded> {
    return this.#files.download(attachment, destination);
  }

  /** The protocol spoken: 'cim' or 'native', or undefined while 'auto' waits for the first /login answer. */
  get protocol(): 'cim' | 'native' | undefined {
    return this.#life.mode;
  }

  /**
   * CIM mode sends over the route's HTTP API; with protocol 'auto' the first /login answer decides, so a
   * send made before it waits for it. (Callers await only then: a known mode keeps native sends synchronous.)
   */
  async #decidedMode(): Promise<'cim' | 'native'> {
    for (;;) {
      const mode = this.#life.mode;
      if (mode !== undefined) return mode;
      if (this.state === 'closed') throw closedError();
      await once(this, 'state');
    }
  }

  /**
   * Tells the senders of these (private) messages that this user has read them. Best effort, live: returns
   * false when the client is not connected and nothing was sent.
   */
  markRead(messages: readonly ChatMessage[]): boolean {
    if (!Array.isArray(messages)) throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, 'markRead takes an array of messages');
    if (this.state !== 'ready' || this.#life.mode === 'cim') return false; // CIM has no receipts
    this.#acks.flush(); // read implies delivered: acknowledge what waits first
    let ok = true;
    for (const frame of readReceiptFrames(messages, this.#life.userId ?? 0)) ok = this.#life.write(frame) && ok;
    return ok;
  }

  /**
   * A page of the conversation with `peer` (or of a named group: `{groupId}`, members only) kept on the server (POST /history), oldest first: the newest `limit`
   * (default 50, at most 200) before `beforeSeq`, all when absent. Page backwards with the first seq of a page.
   * Needs a login (the route checks this user's token); CIM's protocol has no server-side history.
   */
  history(peer: number | { readonly groupId: number }, page: { beforeSeq?: number; limit?: number } = {}): Promise<HistoryPage> {
    if (this.state === 'closed') return Promise.reject(closedError());
    const userId = this.#life.userId;
    if (userId === undefined) return Promise.reject(new CimClientError(ClientErrorCode.INVALID_ARGUMENT, 'history needs a login first (connect())'));
    return this.#life.session.history(userId, peer, page, this.#life.signal);
  }

  /** Everyone online, this user included when connected (GET /onlineUser). */
  onlineUsers(): Promise<OnlineUser[]> {
    if (this.state === 'closed') return Promise.reject(closedError());
    return this.#life.route.onlineUsers(this.#life.signal);
  }

  info(): ClientInfo {
    return {
      userId: this.#life.userId,
      userName: this.#o.userName,
      state: this.#life.state,
      routeUrl: this.#life.route.baseUrl,
      transport: this.#life.mode === 'cim' ? 'tcp' : this.#o.transport,
      server: this.#life.server,
      remote: this.#life.remote,
      connectedAt: this.#life.connectedAt,
      reconnects: this.#life.reconnects,
      pendingSends: this.#outbox.size,
    };
  }

  /**
   * Acknowledges what was shown, closes the connection, rejects pending sends with CLOSED and logs out
   * through the route (/offLine). Never reconnects afterwards. Idempotent; resolves when the logout call
   * is done (its failure is only logged).
   */
  close(): Promise<void> {
    this.#closing ??= this.#life.finish('close()', closedError());
    return this.#closing;
  }

  #assertSendable(): void {
    if (this.state === 'closed') throw closedError();
    if (this.state === 'idle') throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, 'call connect() before sending');
  }

  #onFrame(frame: CimFrame): void {
    if (this.#life.mode === 'cim') return this.#onCimFrame(frame);
    switch (frame.cmd) {
      case Command.MESSAGE:
      case Command.OFFLINE:
        return this.#inbox.handle(frame);
      case Command.MESSAGE_ACK:
        return this.#outbox.handleAck(frame);
      case Command.RECEIPT:
        for (const receipt of parseReceipt(frame)) this.emit('receipt', receipt);
        return;
      case Command.PRESENCE: {
        const presence = parsePresence(frame);
        if (presence) this.emit('presence', presence);
        return;
      }
      default:
        this.#o.logger.debug({ cmd: frame.cmd }, 'ignored frame');
    }
  }

  /** CIM mode: MESSAGE/OFFLINE shown as they come (no seq, no acks, no SYNC); ids, when a server sends them, dedupe. */
  #onCimFrame(frame: CimFrame): void {
    if (frame.cmd !== Command.MESSAGE && frame.cmd !== Command.OFFLINE) return this.#o.logger.debug({ cmd: frame.cmd }, 'ignored frame');
    for (const message of parseMessages(frame, this.#life.userId ?? 0)) {
      if (message.msgId !== undefined) {
        const key = seenKey(message.from.userId, message.msgId);
        if (this.#o.seenStore.has(key)) continue;
        this.#o.seenStore.add(key);
      }
      this.#emitMessage(message);
    }
  }

  /** A throwing listener becomes an `error` event; the message still counts as handled (and is acknowledged). */
  #emitMessage(message: ChatMessage): void {
    try {
      this.emit('message', message);
    } catch (err) {
      this.#emitError(new CimClientError(ClientErrorCode.LISTENER, `a message listener threw: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
    }
  }

  /** Emits `error` only when someone listens: an unhandled 'error' event would crash the process. */
  #emitError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else this.#o.logger.warn({ err }, 'client error (no error listener)');
  }
}

function checkText(text: string): string {
  if (typeof text !== 'string' || text === '') throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, 'text must be a non-empty string');
  return text;
}
