/**
 * One client connection, whatever its transport. The session owns its state changes:
 * `connecting` (no login yet) -> `ready` (logged in) -> `closing` (server asked to close) -> `closed`
 * (the transport reported the end). Writes are honest: on a closing or closed session, or a transport
 * that can no longer send, write() returns false and nothing counts as delivered.
 */
import { CloseCodes, type CloseReason } from '../../common/src/codes.ts';
import { Command, encodeMessage, Prop, PROTOCOL_VERSION, type CimFrame } from '../../common/src/codec.ts';
import { EncodedFrame } from './transport/encoded-frame.ts';

/** Seqs remembered per CIM-protocol session: more than one replay page plus live traffic during it. */
const CIM_SEQS_KEPT = 4096;

export type SessionState = 'connecting' | 'ready' | 'closing' | 'closed';
export type TransportKind = 'tcp' | 'ws';
export type { CloseReason };

export interface TransportPort {
  readonly kind: TransportKind;
  readonly remoteAddress: string;
  /** bytes accepted by the transport but not yet sent */
  bufferedBytes(): number;
  /** Queues the frame in this transport's form; false when the connection can no longer send (it is dropped). */
  writeFrame(frame: EncodedFrame): boolean;
  /** Closes the connection with this close code (WebSocket: the same number); the end is reported back through SessionHost.closed. */
  close(code: number, reason: string): void;
  /** Read backpressure: stop reading from the peer until resumeReading (its frames pile up in the kernel, not here). */
  pauseReading?(): void;
  resumeReading?(): void;
}

let nextSessionId = 1;

export class Session {
  readonly id = nextSessionId++;
  readonly transport: TransportPort;
  readonly connectedAt: number;
  #state: SessionState = 'connecting';
  #userId = 0;
  #userName = '';
  #protocol = '';
  #device: string | undefined;
  #lastReadAt: number;
  #closeReason: CloseReason | undefined;

  constructor(transport: TransportPort, now: number) {
    this.transport = transport;
    this.connectedAt = now;
    this.#lastReadAt = now;
  }

  get status(): SessionState {
    return this.#state;
  }
  get userId(): number {
    return this.#userId;
  }
  get userName(): string {
    return this.#userName;
  }
  /** --login-policy multi: the device this session logged in as ('' = the default one); else undefined */
  get device(): string | undefined {
    return this.#device;
  }
  /** The inbox this session reads and acknowledges: its device's with --login-policy multi, else the user's. */
  get inboxDevice(): string {
    return this.#device ?? '';
  }
  /** '2' when the client speaks this project's extensions; '' for CIM's clients */
  get protocol(): string {
    return this.#protocol;
  }
  get lastReadAt(): number {
    return this.#lastReadAt;
  }
  get closeReason(): CloseReason | undefined {
    return this.#closeReason;
  }
  get speaksExtensions(): boolean {
    return this.#protocol !== '' && this.#protocol >= PROTOCOL_VERSION;
  }
  /** open for frames: not closing or closed */
  get open(): boolean {
    return this.#state === 'connecting' || this.#state === 'ready';
  }

  /**
   * Stored messages (by inbox seq) already written to a CIM-protocol session. Such a client cannot
   * acknowledge, so the server acks on write; a live push racing the login replay must not write the
   * same entry twice (the OFFLINE batch carries no msgId the client could deduplicate by).
   */
  #cimSeqs: Set<number> | undefined; // made on first use: only CIM-protocol sessions need it

  /** Records that the entry `seq` was written; false when it had been written already. */
  noteStoredWrite(seq: number): boolean {
    const seqs = (this.#cimSeqs ??= new Set());
    if (seqs.has(seq)) return false;
    seqs.add(seq);
    if (seqs.size > CIM_SEQS_KEPT) seqs.delete(seqs.values().next().value!);
    return true;
  }

  wroteStored(seq: number): boolean {
    return this.#cimSeqs?.has(seq) ?? false;
  }

  /** A frame arrived (for the heartbeat). */
  touch(now: number): void {
    this.#lastReadAt = now;
  }

  /** The protocol a LOGIN_REQUEST announced; decides which frames the client may get (also a refusal). */
  announceProtocol(protocol: string): void {
    if (this.#state === 'connecting') this.#protocol = protocol.length <= 8 ? protocol : '';
  }

  /** connecting -> ready. @returns false when the session is no longer connecting (closed meanwhile). */
  login(userId: number, userName: string, device?: string): boolean {
    if (this.#state !== 'connecting') return false;
    this.#userId = userId;
    this.#userName = userName;
    this.#device = device;
    this.#state = 'ready';
    return true;
  }

  /** Writes one frame; false when it was not handed to an open connection. */
  write(frame: Partial<CimFrame>): boolean {
    if (!this.open || !this.#accepts(frame.cmd)) return false;
    return this.transport.writeFrame(new EncodedFrame(encodeMessage(frame)));
  }

  /** Writes a frame encoded once for many sessions. */
  writeEncoded(cmd: number, frame: EncodedFrame): boolean {
    if (!this.open || !this.#accepts(cmd)) return false;
    return this.transport.writeFrame(frame);
  }

  // Extension frames would confuse CIM's Java client, which treats any unknown cmd as a message.
  #accepts(cmd: number | undefined): boolean {
    return this.speaksExtensions || cmd === undefined || cmd <= Command.OFFLINE;
  }

  /**
   * Server-initiated close: protocol-2 clients first get GOAWAY {code, reconnect, reason}; then the
   * transport closes with the same code. Idempotent; the first reason wins.
   */
  close(reason: CloseReason): void {
    if (!this.open) return;
    const code = CloseCodes[reason];
    if (reason !== 'client-closed' && this.speaksExtensions) {
      this.write({
        cmd: Command.GOAWAY,
        requestId: this.#userId,
        reqMsg: code.reason,
        properties: { [Prop.code]: String(code.code), [Prop.reconnect]: code.reconnect ? '1' : '0' },
      });
    }
    this.#closeReason = reason;
    this.#state = 'closing';
    this.transport.close(code.code, code.reason);
  }

  /** The transport reported the end. @returns false when it was already reported. */
  markClosed(): boolean {
    if (this.#state === 'closed') return false;
    this.#closeReason ??= 'client-closed';
    this.#state = 'closed';
    return true;
  }
}
