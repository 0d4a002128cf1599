/**
 * One client connection, whatever its transport. Status: `connecting` (no login yet) -> `ready`
 * (logged in) -> `closed`. Transports give it a `write` for encoded frames and a `close`.
 */
import { Command, encodeMessage, encodeTcpFrame, PROTOCOL_VERSION, type CimFrame } from '../../common/src/codec.ts';

export type SessionStatus = 'connecting' | 'ready' | 'closed';
export type TransportKind = 'tcp' | 'ws';

/** Why a connection ended; the range says whether the client should reconnect. */
export type CloseReason =
  | 'client-closed'
  | 'heartbeat-timeout'
  | 'login-timeout'
  | 'login-refused'
  | 'bad-frame'
  | 'oversize-frame'
  | 'slow-consumer'
  | 'replaced'
  | 'moved-elsewhere'
  | 'shutdown';

export interface TransportPort {
  readonly kind: TransportKind;
  readonly remoteAddress: string;
  /** bytes accepted by the transport but not yet sent */
  bufferedBytes(): number;
  writeBytes(bytes: Uint8Array): void;
  /** Closes the connection; `closed` must be reported back through Session.markClosed. */
  close(reason: CloseReason): void;
}

let nextSessionId = 1;

export class Session {
  readonly id = nextSessionId++;
  readonly transport: TransportPort;
  readonly connectedAt: number;
  status: SessionStatus = 'connecting';
  userId = 0;
  userName = '';
  /** '2' when the client speaks this project's extensions; '' for CIM's clients */
  protocol = '';
  lastReadAt: number;
  closeReason: CloseReason | undefined;

  constructor(transport: TransportPort, now: number) {
    this.transport = transport;
    this.connectedAt = now;
    this.lastReadAt = now;
  }

  get speaksExtensions(): boolean {
    return this.protocol !== '' && this.protocol >= PROTOCOL_VERSION;
  }

  /** Writes one frame; returns false when the session is closed. */
  write(frame: Partial<CimFrame>): boolean {
    if (this.status === 'closed') return false;
    // Extension frames would confuse CIM's Java client, which treats any unknown cmd as a message.
    if (!this.speaksExtensions && frame.cmd !== undefined && frame.cmd > Command.OFFLINE) return false;
    this.transport.writeBytes(this.transport.kind === 'tcp' ? encodeTcpFrame(frame) : encodeMessage(frame));
    return true;
  }

  writeRaw(tcpFrame: Uint8Array, body: Uint8Array): boolean {
    if (this.status === 'closed') return false;
    this.transport.writeBytes(this.transport.kind === 'tcp' ? tcpFrame : body);
    return true;
  }

  close(reason: CloseReason): void {
    if (this.status === 'closed') return;
    this.closeReason ??= reason;
    this.transport.close(reason);
  }
}
