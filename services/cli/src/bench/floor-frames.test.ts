import { describe, expect, it } from 'vitest';
import { FloorFrame, helloFrame, idsFrame, lengthPrefixed, LinkDecoder, messageFrame, readReceipts, receiptsFrame, sentAtOf, u32At } from './floor-frames.ts';

describe('the floor\'s frames', () => {
  it('carry a message\'s ids, send time and payload', () => {
    const f = messageFrame(7, 4_000_000_000, 42, 1_764_000_000_123.25, Buffer.from('hello'));
    expect([f[0], u32At(f, 1), u32At(f, 5), u32At(f, 9), sentAtOf(f)]).toEqual([FloorFrame.MESSAGE, 7, 4_000_000_000, 42, 1_764_000_000_123.25]);
    expect(f.subarray(21).toString()).toBe('hello');
    expect([...helloFrame(9)]).toEqual([FloorFrame.HELLO, 9, 0, 0, 0]);
    const r = idsFrame(FloorFrame.RECEIPT, 1, 2, 3);
    expect([r[0], u32At(r, 1), u32At(r, 5), u32At(r, 9)]).toEqual([FloorFrame.RECEIPT, 1, 2, 3]);
  });

  it('batch receipts, and refuse a receipts frame shorter than its count', () => {
    const entries: Array<[number, number]> = [[1, 10], [3, 30], [5, 50]];
    const f = receiptsFrame(2, entries);
    expect([f[0], u32At(f, 1)]).toEqual([FloorFrame.RECEIPTS, 2]);
    expect(readReceipts(f)).toEqual(entries);
    expect(() => readReceipts(f.subarray(0, f.length - 1))).toThrow(RangeError);
  });

  it('come out of the relay link whole however the stream is cut', () => {
    const frames = [messageFrame(1, 2, 1, 0, Buffer.alloc(100, 1)), idsFrame(FloorFrame.ACK, 1, 2, 1), receiptsFrame(2, [[1, 1]])];
    const stream = Buffer.concat(frames.flatMap(lengthPrefixed));
    for (const cut of [1, 3, 4, 5, 17, stream.length - 1]) {
      const d = new LinkDecoder();
      const out = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      expect(out.map((b) => b.toString('hex')), `cut at ${cut}`).toEqual(frames.map((b) => b.toString('hex')));
    }
    // byte by byte
    const d = new LinkDecoder();
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) out.push(...d.push(stream.subarray(i, i + 1)));
    expect(out).toHaveLength(3);
  });
});
