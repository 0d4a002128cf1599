/**
 * protobuf encoding of CIM frames (proto/cim.proto) with protobufjs. Request and Response are the same
 * on the wire, so one message type, `Request`, is used in both directions, as CIM's server does.
 */
import protobuf from 'protobufjs';
import type Long from 'long';
import { CIM_PROTO_JSON, REQUEST_TYPE_NAME } from './cim-proto.ts';
import { encodeLengthPrefixed } from './framing.ts';

export const Command = {
  LOGIN_REQUEST: 0,
  MESSAGE: 1,
  PING: 2,
  OFFLINE: 3,
  LOGIN_RESPONSE: 4,
  MESSAGE_ACK: 5,
  GOAWAY: 6,
  RECEIPT: 7,
  SYNC: 8,
  /** s->c, protocol 2 only: a contact went online/offline (sendUserId, sendUserName, online "1"/"0", sentAt) */
  PRESENCE: 9,
} as const;
export type Command = (typeof Command)[keyof typeof Command];
export const COMMAND_NAMES: Readonly<Record<number, keyof typeof Command>> = Object.fromEntries(
  Object.entries(Command).map(([name, value]) => [value, name as keyof typeof Command]),
);

/** Property keys carried in `properties` (CIM's, then this project's). */
export const Prop = {
  sendUserId: 'sendUserId',
  sendUserName: 'sendUserName',
  receiveUserId: 'receiveUserId',
  protocol: 'protocol',
  token: 'token',
  msgId: 'msgId',
  sentAt: 'sentAt',
  chatType: 'chatType',
  code: 'code',
  reason: 'reason',
  /** the receiver's inbox sequence number of a private message */
  seq: 'seq',
  /** LOGIN_RESPONSE: highest seq of the user's inbox */
  maxSeq: 'maxSeq',
  /** MESSAGE_ACK: "1" when the receiver was online */
  online: 'online',
  /** MESSAGE_ACK failures: "1" when sending again with the same msgId may succeed */
  retryable: 'retryable',
  /** MESSAGE s->c: "1" when pushed again from the inbox (login, SYNC) */
  replay: 'replay',
  /** RECEIPT: "delivered" | "read" */
  status: 'status',
  /** SYNC: push entries after this seq */
  afterSeq: 'afterSeq',
  /** GOAWAY: "1" when the client should reconnect */
  reconnect: 'reconnect',
  /** MESSAGE (both ways), MESSAGE_ACK: the named group of a group message (docs/delivery.md "Named groups") */
  groupId: 'groupId',
  /** MESSAGE s->c, MESSAGE_ACK: the message's sequence in its named group */
  gseq: 'gseq',
  /** MESSAGE (both ways) of a private file message: its attachment (files/attachment.ts, docs/delivery.md "File messages") */
  fileId: 'fileId',
  fileName: 'fileName',
  fileSize: 'fileSize',
  fileType: 'fileType',
  fileToken: 'fileToken',
  /** LOGIN_REQUEST, protocol 2, --login-policy multi: the client's device id ([A-Za-z0-9_-]{1,64}, stable per installation) */
  device: 'device',
  /** MESSAGE s->c: a carbon copy of what this user sent from another device; the receiver (private) or groupId (group) */
  carbonTo: 'carbonTo',
} as const;

/** RECEIPT statuses. */
export const ReceiptStatus = { delivered: 'delivered', read: 'read' } as const;
export type ReceiptStatus = (typeof ReceiptStatus)[keyof typeof ReceiptStatus];

/** Protocol version announced by this project's clients in LOGIN_REQUEST; enables the extension frames. */
export const PROTOCOL_VERSION = '2';

export interface CimFrame {
  /** userId (login, ping, pushes: the receiver); 0 when absent. */
  requestId: number;
  reqMsg: string;
  cmd: number;
  properties: Record<string, string>;
  batchReqMsg: string[];
}

export class CodecError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CodecError';
  }
}

// The schema is bundled (cim-proto.ts), never read from proto/cim.proto at run time.
const root = protobuf.Root.fromJSON(CIM_PROTO_JSON as unknown as protobuf.INamespace);
const RequestType = root.lookupType(REQUEST_TYPE_NAME);

type Int64 = number | Long;
function toSafeNumber(value: Int64 | undefined): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number') return value;
  const n = value.toNumber();
  if (!Number.isSafeInteger(n)) throw new CodecError(`requestId ${value.toString()} is out of the supported range`);
  return n;
}

/** Encodes the protobuf body (no length prefix). Default values are left out, as proto3 writers do. */
export function encodeMessage(frame: Partial<CimFrame>): Uint8Array {
  const payload: Record<string, unknown> = {};
  if (frame.requestId) payload['requestId'] = frame.requestId;
  if (frame.reqMsg) payload['reqMsg'] = frame.reqMsg;
  if (frame.cmd) payload['cmd'] = frame.cmd;
  if (frame.properties && Object.keys(frame.properties).length > 0) payload['properties'] = frame.properties;
  if (frame.batchReqMsg && frame.batchReqMsg.length > 0) payload['batchReqMsg'] = frame.batchReqMsg;
  return RequestType.encode(payload).finish();
}

/** Encodes a TCP frame: varint32 length + protobuf body. */
export function encodeTcpFrame(frame: Partial<CimFrame>): Buffer {
  return encodeLengthPrefixed(encodeMessage(frame));
}

/** Decodes one protobuf body. @throws CodecError on bytes that are not a valid Request. */
export function decodeMessage(bytes: Uint8Array): CimFrame {
  let decoded: Record<string, unknown>;
  try {
    decoded = RequestType.decode(bytes) as unknown as Record<string, unknown>;
  } catch (err) {
    throw new CodecError(`invalid protobuf frame: ${(err as Error).message}`, { cause: err });
  }
  const properties = (decoded['properties'] ?? {}) as Record<string, string>;
  return {
    requestId: toSafeNumber(decoded['requestId'] as Int64 | undefined),
    reqMsg: (decoded['reqMsg'] as string | undefined) ?? '',
    cmd: (decoded['cmd'] as number | undefined) ?? Command.LOGIN_REQUEST,
    properties: { ...properties },
    batchReqMsg: [...((decoded['batchReqMsg'] as string[] | undefined) ?? [])],
  };
}

/** CIM's pong, byte for byte: {reqMsg:"pong", cmd:PING}. */
export const PONG_BODY: Uint8Array = encodeMessage({ reqMsg: 'pong', cmd: Command.PING });
