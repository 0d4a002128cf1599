/** The values the SDK hands to its users: messages, receipts, state changes, send results, info(). */
import type { ReceiptStatus } from '../../../common/src/codec.ts';
import type { ServerAssignment } from './route-api.ts';
import type { TransportKind } from './transport.ts';
import type { PresenceEvent } from './contacts.ts';
import type { Attachment } from '../../../common/src/files/attachment.ts';

export type ClientState = 'idle' | 'connecting' | 'ready' | 'reconnecting' | 'closed';

export interface ChatMessage {
  /** The sender-chosen id; with from.userId it identifies the message. Absent only from very old servers. */
  readonly msgId: string | undefined;
  readonly from: { readonly userId: number; readonly userName: string };
  /** The receiver (this client's user). */
  readonly to: number;
  readonly text: string;
  /** 'private' and named-group messages sit in the receiver's inbox until acknowledged; other 'group' ones are live only. */
  readonly chatType: 'private' | 'group';
  /** Private and named-group messages: the seq in this user's inbox (conversation order). */
  readonly seq: number | undefined;
  /** Named-group messages: the group, and the message's place in it (gseq); absent for "everyone online" ones. */
  readonly groupId?: number;
  readonly gseq?: number;
  /** When the sending server accepted the message (ms since epoch), when the server says. */
  readonly sentAt: number | undefined;
  readonly receivedAt: number;
  /** Pushed again from the inbox (at login or after SYNC) rather than live. */
  readonly replay: boolean;
  /** Not live: replayed from the inbox, or CIM's OFFLINE batch. */
  readonly offline: boolean;
  /** A file message's file: client.download(message.attachment, dir) fetches it (docs/delivery.md "File messages"). */
  readonly attachment?: Attachment;
  /**
   * --login-policy multi: this user's own message, sent from another of its devices (a carbon copy; `from` is
   * this user): to this user id (private) or in this groupId (chatType 'group').
   */
  readonly carbonTo?: number;
}

/** A receipt for a message this user sent: the receiver got it (delivered) or displayed it (read). */
export interface ReceiptEvent {
  readonly msgId: string;
  /** The receiver of the message. */
  readonly to: number;
  readonly status: ReceiptStatus;
  /**
   * --login-policy multi: this user read these messages of `sender` on another of its devices (`to` is this
   * user then); absent for receipts about this user's own sends.
   */
  readonly sender?: number;
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
  /** Sends waiting for a connection, for a retry or for their ack. */
  readonly pendingSends: number;
}

export interface SendOptions {
  /** Reuse an id to make a retried send recognisable as a duplicate. Default: a random UUID. */
  readonly msgId?: string;
  readonly timeoutMs?: number;
}

export interface SendResult {
  readonly msgId: string;
  /** Private messages: the seq in the receiver's inbox (SENT = stored there). */
  readonly seq?: number;
  /** Private messages: whether the receiver was online when it was stored. */
  readonly online?: boolean;
  /** Named-group messages: the message's place in its group. */
  readonly gseq?: number;
}

export interface ClientEvents {
  message: [ChatMessage];
  /** a contact went online/offline (sdk/contacts.ts) */
  presence: [PresenceEvent];
  receipt: [ReceiptEvent];
  state: [StateChange];
  error: [Error];
}
