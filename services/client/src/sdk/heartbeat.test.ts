import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Heartbeat } from './heartbeat.ts';

describe('Heartbeat', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function start(): { pings: number[]; dead: number[]; heartbeat: Heartbeat } {
    const pings: number[] = [];
    const dead: number[] = [];
    const heartbeat = new Heartbeat({
      intervalMs: 10_000,
      pongTimeoutMs: 5_000,
      sendPing: () => pings.push(Date.now()),
      onDead: (silentForMs) => dead.push(silentForMs),
    });
    heartbeat.start();
    return { pings, dead, heartbeat };
  }

  it('pings after the interval of idleness, like CIM’s 10 s writer-idle ping', () => {
    const { pings, heartbeat } = start();
    const t0 = Date.now();
    vi.advanceTimersByTime(9_999);
    expect(pings).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(pings).toEqual([t0 + 10_000]);
    heartbeat.noteRead(); // pong
    vi.advanceTimersByTime(10_000);
    expect(pings).toHaveLength(2);
    heartbeat.stop();
  });

  it('declares the connection dead when nothing arrives within the pong timeout', () => {
    const { dead, heartbeat } = start();
    vi.advanceTimersByTime(10_000 + 4_999);
    expect(dead).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(dead).toEqual([15_000]);
    vi.advanceTimersByTime(60_000);
    expect(dead).toHaveLength(1);
    heartbeat.stop();
  });

  it('pings a read-idle connection even while writing, so a dead peer is found during a send burst', () => {
    const { pings, dead, heartbeat } = start();
    for (let i = 0; i < 30; i++) {
      vi.advanceTimersByTime(500);
      heartbeat.noteWrite();
    }
    expect(pings).toHaveLength(1);
    vi.advanceTimersByTime(5_000);
    expect(dead).toHaveLength(1);
    heartbeat.stop();
  });

  it('does not ping while frames keep arriving and being written', () => {
    const { pings, heartbeat } = start();
    for (let i = 0; i < 40; i++) {
      vi.advanceTimersByTime(1_000);
      heartbeat.noteRead();
      heartbeat.noteWrite();
    }
    expect(pings).toEqual([]);
    heartbeat.stop();
  });

  it('does nothing after stop()', () => {
    const { pings, dead, heartbeat } = start();
    heartbeat.stop();
    vi.advanceTimersByTime(100_000);
    expect(pings).toEqual([]);
    expect(dead).toEqual([]);
  });
});
