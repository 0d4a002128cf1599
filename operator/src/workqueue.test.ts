import { describe, expect, it, vi } from 'vitest';
import { WorkQueue } from './workqueue.ts';

const fakeTimers = () => ({
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
  clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
});

describe('WorkQueue', () => {
  it('hands out a key added many times only once', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('a');
    q.add('b');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  it('never hands the same key to two workers; an add during processing requeues it on done', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.get();
    q.add('a');
    expect(q.length).toBe(0);
    let second: string | undefined;
    void q.get().then((k) => (second = k));
    await Promise.resolve();
    expect(second).toBeUndefined();
    q.done(key!);
    await Promise.resolve();
    expect(second).toBe('a');
  });

  it('backs off exponentially per key and forgets on success', () => {
    vi.useFakeTimers();
    try {
      const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 1000, timers: fakeTimers() });
      expect([1, 2, 3, 4, 5].map(() => q.addRateLimited('a'))).toEqual([100, 200, 400, 800, 1000]);
      expect(q.addRateLimited('b')).toBe(100);
      q.forget('a');
      expect(q.addRateLimited('a')).toBe(100);
    } finally {
      vi.useRealTimers();
    }
  });

  it('adds a delayed key when its time comes, keeping the earliest deadline', async () => {
    vi.useFakeTimers();
    try {
      const q = new WorkQueue({ timers: fakeTimers() });
      q.addAfter('a', 1000, Date.now());
      q.addAfter('a', 5000, Date.now());
      vi.advanceTimersByTime(999);
      expect(q.length).toBe(0);
      vi.advanceTimersByTime(1);
      expect(q.length).toBe(1);
      vi.advanceTimersByTime(10_000);
      expect(q.length).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('releases waiting workers with undefined on shutdown', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.shutDown();
    expect(await waiting).toBeUndefined();
    q.add('a');
    expect(await q.get()).toBeUndefined();
  });

  it('reports its depth', () => {
    const depths: number[] = [];
    const q = new WorkQueue({ onDepth: (d) => depths.push(d) });
    q.add('a');
    q.add('b');
    void q.get();
    expect(depths).toEqual([1, 2, 1]);
  });
});
