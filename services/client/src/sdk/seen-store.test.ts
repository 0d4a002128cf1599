import { describe, expect, it } from 'vitest';
import { MemorySeenStore, seenKey } from './seen-store.ts';

describe('MemorySeenStore', () => {
  it('remembers keys up to its capacity, forgetting the least recently used first', () => {
    const store = new MemorySeenStore(3);
    for (const k of ['a', 'b', 'c']) store.add(k);
    expect(store.has('a')).toBe(true); // a is now the most recent
    store.add('d'); // evicts b
    expect([store.has('a'), store.has('b'), store.has('c'), store.has('d')]).toEqual([true, false, true, true]);
    expect(store.size).toBe(3);
    expect(() => new MemorySeenStore(0)).toThrow(RangeError);
  });

  it('keys a message by sender and msgId', () => {
    expect(seenKey(7, 'abc')).toBe('7:abc');
    expect(seenKey(7, 'abc')).not.toBe(seenKey(8, 'abc'));
  });
});
