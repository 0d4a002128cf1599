/**
 * A frame encoded once for every connection it goes to: its protobuf body, the TCP form (varint32 length
 * prefix) and the complete WebSocket frame (header + body), each built on first use. A group message to
 * 1,000 sessions or the constant PONG is framed once, not once per write.
 */
import * as wsModule from 'ws';
import { encodeLengthPrefixed } from '../../../common/src/framing.ts';

// ws's own framing (Sender.frame is public in ws; @types/ws does not declare it).
const { Sender } = wsModule as unknown as {
  Sender: { frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Buffer[] };
};
const BINARY = 0x2;

export class EncodedFrame {
  readonly body: Uint8Array;
  #tcp: Uint8Array | undefined;
  #ws: Buffer | undefined;

  constructor(body: Uint8Array) {
    this.body = body;
  }

  /** varint32 length + body (CIM's TCP framing) */
  get tcp(): Uint8Array {
    return (this.#tcp ??= encodeLengthPrefixed(this.body));
  }

  /** One unmasked, final, binary WebSocket frame (a server's frames are never masked; no compression). */
  get ws(): Buffer {
    if (this.#ws === undefined) {
      const body = Buffer.from(this.body.buffer, this.body.byteOffset, this.body.byteLength);
      this.#ws = Buffer.concat(Sender.frame(body, { fin: true, opcode: BINARY, mask: false, readOnly: true, rsv1: false }));
    }
    return this.#ws;
  }
}
