import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { TurnCork } from './turn-cork.ts';

describe('TurnCork', () => {
  it('turns the writes of one turn into one writev, and writes of the next turn into another', async () => {
    const calls: number[] = [];
    const sink = new Writable({
      writev(chunks, cb) {
        calls.push(chunks.length);
        cb();
      },
      write(_chunk, _enc, cb) {
        calls.push(1);
        cb();
      },
    });
    const turn = new TurnCork(sink);
    for (let i = 0; i < 5; i++) {
      turn.cork();
      sink.write(Buffer.from([i]));
    }
    await new Promise((r) => setImmediate(r));
    turn.cork();
    sink.write(Buffer.from([9]));
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual([5, 1]);
  });
});
