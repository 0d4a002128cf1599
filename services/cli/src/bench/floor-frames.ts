/**
 * The wire format of the bench's floor (floor.ts): fixed little-endian binary frames that cost nothing to
 * encode or read, so that what the floor measures is the transport, Redis round trips and the machine.
 *
 *   HELLO     [9][user u32]                                         client -> relay, echoed when registered
 *   MESSAGE   [0][from u32][to u32][seq u32][sentAt f64][payload]   sender -> its relay
 *   DELIVER   the MESSAGE with type 1                               relay -> peer relay -> receiver
 *   ACK       [2][from u32][to u32][seq u32]                        relay -> sender, once stored
 *   RECEIPTS  [3][receiver u32][n u16] n x ([from u32][seq u32])    receiver -> its relay
 *   RECEIPT   [4][from u32][receiver u32][seq u32]                  relay -> peer relay -> sender
 *
 * Between the relays every frame is prefixed with its length (u32).
 */
export const FloorFrame = { MESSAGE: 0, DELIVER: 1, ACK: 2, RECEIPTS: 3, RECEIPT: 4, HELLO: 9 } as const;

export const MESSAGE_HEADER_BYTES = 21;

export function helloFrame(user: number): Buffer {
  const b = Buffer.allocUnsafe(5);
  b[0] = FloorFrame.HELLO;
  b.writeUInt32LE(user, 1);
  return b;
}

export function messageFrame(from: number, to: number, seq: number, sentAt: number, payload: Buffer): Buffer {
  const b = Buffer.allocUnsafe(MESSAGE_HEADER_BYTES + payload.length);
  b[0] = FloorFrame.MESSAGE;
  b.writeUInt32LE(from, 1);
  b.writeUInt32LE(to, 5);
  b.writeUInt32LE(seq, 9);
  b.writeDoubleLE(sentAt, 13);
  payload.copy(b, MESSAGE_HEADER_BYTES);
  return b;
}

/** ACK (type 2) or RECEIPT (type 4): the three ids of a message. */
export function idsFrame(type: typeof FloorFrame.ACK | typeof FloorFrame.RECEIPT, a: number, b: number, seq: number): Buffer {
  const f = Buffer.allocUnsafe(13);
  f[0] = type;
  f.writeUInt32LE(a, 1);
  f.writeUInt32LE(b, 5);
  f.writeUInt32LE(seq, 9);
  return f;
}

export function receiptsFrame(receiver: number, entries: ReadonlyArray<readonly [from: number, seq: number]>): Buffer {
  const b = Buffer.allocUnsafe(7 + 8 * entries.length);
  b[0] = FloorFrame.RECEIPTS;
  b.writeUInt32LE(receiver, 1);
  b.writeUInt16LE(entries.length, 5);
  entries.forEach(([from, seq], i) => {
    b.writeUInt32LE(from, 7 + 8 * i);
    b.writeUInt32LE(seq, 11 + 8 * i);
  });
  return b;
}

/** The [from, seq] entries of a RECEIPTS frame; throws on a frame shorter than its count says. */
export function readReceipts(f: Buffer): Array<[number, number]> {
  const n = f.readUInt16LE(5);
  if (f.length < 7 + 8 * n) throw new RangeError(`floor: RECEIPTS frame of ${f.length} bytes announces ${n} entries`);
  return Array.from({ length: n }, (_, i) => [f.readUInt32LE(7 + 8 * i), f.readUInt32LE(11 + 8 * i)]);
}

export const u32At = (f: Buffer, offset: 1 | 5 | 9): number => f.readUInt32LE(offset);
export const sentAtOf = (f: Buffer): number => f.readDoubleLE(13);

export function lengthPrefixed(frame: Buffer): Buffer[] {
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32LE(frame.length);
  return [head, frame];
}

/** Splits the relay link's byte stream into frames (chunks may cut frames anywhere). */
export class LinkDecoder {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    let data = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk;
    const frames: Buffer[] = [];
    while (data.length >= 4) {
      const n = data.readUInt32LE(0);
      if (data.length < 4 + n) break;
      frames.push(data.subarray(4, 4 + n));
      data = data.subarray(4 + n);
    }
    this.#pending = data;
    return frames;
  }
}
