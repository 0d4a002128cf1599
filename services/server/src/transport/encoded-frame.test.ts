import * as wsModule from 'ws';
import { describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../../common/src/framing.ts';
import { EncodedFrame } from './encoded-frame.ts';

// ws's parser, as a client reads a server's frames (@types/ws does not declare it).
type Receiver = NodeJS.WritableStream & { on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): Receiver };
const { Receiver } = wsModule as unknown as { Receiver: new (options: { isServer: boolean; binaryType: string }) => Receiver };

function parse(bytes: Buffer): Promise<{ data: Buffer; isBinary: boolean }> {
  const receiver = new Receiver({ isServer: false, binaryType: 'nodebuffer' });
  return new Promise((resolve, reject) => {
    receiver.on('message', (data, isBinary) => resolve({ data, isBinary }));
    receiver.on('error', reject);
    receiver.write(bytes);
  });
}

describe('EncodedFrame', () => {
  // 125, 126 and 65,536 bytes are where the WebSocket header changes its length field (7 bits, 16, 64).
  it.each([0, 1, 125, 126, 65_535, 65_536, 200_000])('frames a %i-byte body as one binary WebSocket message ws reads back', async (size) => {
    const body = Uint8Array.from({ length: size }, (_, i) => i % 251);
    const frame = new EncodedFrame(body);
    const { data, isBinary } = await parse(frame.ws);
    expect(isBinary).toBe(true);
    expect(Buffer.compare(data, Buffer.from(body))).toBe(0);
    expect(frame.ws.length).toBe(size + (size < 126 ? 2 : size < 65_536 ? 4 : 10));
  });

  it('gives TCP the varint32-prefixed body, and each form is built once', () => {
    const body = new Uint8Array(300).fill(7);
    const frame = new EncodedFrame(body);
    expect(new FrameDecoder(1 << 20).push(Buffer.from(frame.tcp))).toEqual([Buffer.from(body)]);
    expect(frame.tcp).toBe(frame.tcp);
    expect(frame.ws).toBe(frame.ws);
  });

  it('frames a body that is a view into a larger buffer by its own bytes only', async () => {
    const backing = Buffer.from('xxxxHELLOyyyy');
    const { data } = await parse(new EncodedFrame(backing.subarray(4, 9)).ws);
    expect(data.toString()).toBe('HELLO');
  });
});
