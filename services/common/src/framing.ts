/**
 * Varint32 length-prefixed framing, byte-compatible with Netty's ProtobufVarint32LengthFieldPrepender
 * and ProtobufVarint32FrameDecoder (what CIM's TCP transport uses). Pure: no I/O.
 */

/** A frame or its length prefix is not acceptable; the connection that sent it must be closed. */
export class FramingError extends Error {
  readonly reason: 'oversize' | 'malformed-length';
  constructor(reason: 'oversize' | 'malformed-length', message: string) {
    super(message);
    this.name = 'FramingError';
    this.reason = reason;
  }
}

export function varint32Size(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}

/** Prefixes `body` with its length as a base-128 varint32. */
export function encodeLengthPrefixed(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(varint32Size(body.length) + body.length);
  let value = body.length;
  let offset = 0;
  while (value >= 0x80) {
    out[offset++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[offset++] = value;
  out.set(body, offset);
  return out;
}

/**
 * Splits a byte stream into frames. Feed it every chunk as it arrives; it returns the complete frames
 * and keeps the incomplete tail. Frames larger than `maxFrameBytes` are refused as soon as their
 * length prefix is read, before their body is buffered.
 */
export class FrameDecoder {
  readonly #maxFrameBytes: number;
  #pending: Buffer = Buffer.alloc(0);

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Bytes received but not yet returned as a frame. */
  get bufferedBytes(): number {
    return this.#pending.length;
  }

  /** @throws FramingError on an oversize frame or a length prefix longer than 5 bytes. */
  push(chunk: Uint8Array): Buffer[] {
    let data = this.#pending.length === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.concat([this.#pending, chunk]);
    const frames: Buffer[] = [];
    let offset = 0;
    for (;;) {
      const header = readVarint32(data, offset);
      if (header === undefined) break; // length prefix incomplete
      const [length, headerBytes] = header;
      if (length > this.#maxFrameBytes) {
        throw new FramingError('oversize', `frame of ${length} bytes exceeds the limit of ${this.#maxFrameBytes} bytes`);
      }
      const start = offset + headerBytes;
      if (data.length - start < length) break; // body incomplete
      // Copy so a retained frame does not pin the whole socket chunk in memory.
      frames.push(Buffer.from(data.subarray(start, start + length)));
      offset = start + length;
    }
    this.#pending = offset === data.length ? Buffer.alloc(0) : Buffer.from(data.subarray(offset));
    data = Buffer.alloc(0);
    return frames;
  }
}

/** Returns [value, bytesRead], or undefined when the varint is not complete yet. */
function readVarint32(data: Buffer, offset: number): [number, number] | undefined {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    if (offset + i >= data.length) return undefined;
    const byte = data[offset + i]!;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return [value, i + 1];
  }
  throw new FramingError('malformed-length', 'frame length prefix is longer than 5 bytes');
}
