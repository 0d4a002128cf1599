import { describe, expect, it } from 'vitest';
import { encodeLengthPrefixed, FrameDecoder, FramingError } from './framing.ts';

const body = (n: number, fill = 1) => Buffer.alloc(n, fill);

describe('varint32 framing', () => {
  it('uses Netty-compatible multi-byte length prefixes', () => {
    expect(encodeLengthPrefixed(body(0))).toEqual(Buffer.from([0]));
    expect(encodeLengthPrefixed(body(127)).subarray(0, 1)).toEqual(Buffer.from([0x7f]));
    expect(encodeLengthPrefixed(body(128)).subarray(0, 2)).toEqual(Buffer.from([0x80, 0x01]));
    expect(encodeLengthPrefixed(body(300)).subarray(0, 2)).toEqual(Buffer.from([0xac, 0x02]));
  });

  it('reassembles a frame delivered one byte at a time', () => {
    const decoder = new FrameDecoder(1024);
    const wire = encodeLengthPrefixed(body(200, 7));
    const frames: Buffer[] = [];
    for (const byte of wire) frames.push(...decoder.push(Buffer.from([byte])));
    expect(frames).toEqual([body(200, 7)]);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('returns several frames from one chunk and keeps the partial tail', () => {
    const decoder = new FrameDecoder(1024);
    const a = encodeLengthPrefixed(body(3, 1));
    const b = encodeLengthPrefixed(body(2, 2));
    const c = encodeLengthPrefixed(body(150, 3));
    const chunk = Buffer.concat([a, b, c.subarray(0, 10)]);
    expect(decoder.push(chunk)).toEqual([body(3, 1), body(2, 2)]);
    expect(decoder.bufferedBytes).toBe(10);
    expect(decoder.push(c.subarray(10))).toEqual([body(150, 3)]);
  });

  it('accepts empty frames', () => {
    expect(new FrameDecoder(10).push(Buffer.from([0, 0]))).toEqual([Buffer.alloc(0), Buffer.alloc(0)]);
  });

  it('refuses an oversize frame as soon as its length is known', () => {
    const decoder = new FrameDecoder(100);
    const wire = encodeLengthPrefixed(body(101));
    expect(() => decoder.push(wire.subarray(0, 2))).toThrow(FramingError);
    expect(() => new FrameDecoder(100).push(wire.subarray(0, 2))).toThrow(/exceeds the limit of 100 bytes/);
  });

  it('refuses a length prefix longer than five bytes', () => {
    expect(() => new FrameDecoder(100).push(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))).toThrow(/longer than 5 bytes/);
  });
});
