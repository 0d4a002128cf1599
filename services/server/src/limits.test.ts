import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { messageTooLarge } from '../../common/src/message-size.ts';
import { AddressLimiter, FrameRateLimiter, MAX_PENDING_FRAMES, PendingFrames, TokenBucket } from './limits.ts';

describe('TokenBucket', () => {
  it('allows the burst at once, then the rate', () => {
    const b = new TokenBucket(10, 5, 0);
    expect(Array.from({ length: 6 }, () => b.take(0))).toEqual([true, true, true, true, true, false]);
    expect(b.take(99)).toBe(false); // 0.99 tokens
    expect([b.take(100), b.take(100)]).toEqual([true, false]);
    expect(Array.from({ length: 6 }, () => b.take(10_000)).filter(Boolean).length).toBe(5); // capped at the burst
  });
});

describe('FrameRateLimiter', () => {
  it('refuses above the rate and cuts off a client sending far above it', () => {
    const r = new FrameRateLimiter({ maxMsgRate: 100, msgBurst: 10 }, 0);
    const seen = Array.from({ length: 25 }, () => r.admit(0));
    expect(seen.filter((a) => a === 'accept').length).toBe(10);
    expect(seen.filter((a) => a === 'refuse').length).toBe(10);
    expect(seen.slice(20)).toEqual(Array(5).fill('cut-off'));
  });

  it('never cuts off a client at twice the rate', () => {
    const r = new FrameRateLimiter({ maxMsgRate: 100, msgBurst: 10 }, 0);
    const counts = { accept: 0, refuse: 0, 'cut-off': 0 };
    for (let t = 0; t < 10_000; t += 5) counts[r.admit(t)]++; // 200/s for 10 s
    expect(counts['cut-off']).toBe(0);
    expect(counts.accept).toBeGreaterThanOrEqual(1000);
    expect(counts.refuse).toBeGreaterThan(900);
  });

  it('is off at rate 0', () => {
    const r = new FrameRateLimiter({ maxMsgRate: 0, msgBurst: 1 }, 0);
    expect(Array.from({ length: 1000 }, () => r.admit(0)).every((a) => a === 'accept')).toBe(true);
  });
});

describe('PendingFrames', () => {
  it('pauses at the bound and resumes at half of it', () => {
    const p = new PendingFrames();
    const pauses = Array.from({ length: MAX_PENDING_FRAMES + 3 }, () => p.add(10));
    expect(pauses.indexOf(true)).toBe(MAX_PENDING_FRAMES - 1);
    expect(pauses.filter(Boolean).length).toBe(1);
    const resumes: boolean[] = [];
    while (p.frames > 0) resumes.push(p.done(10));
    expect(resumes.indexOf(true)).toBe(MAX_PENDING_FRAMES + 3 - MAX_PENDING_FRAMES / 2 - 1);
    expect(resumes.filter(Boolean).length).toBe(1);
    expect(p.bytes).toBe(0);
  });
});

describe('AddressLimiter', () => {
  it('caps connections per address and frees them on release', () => {
    const l = new AddressLimiter(2);
    expect([l.tryAcquire('a'), l.tryAcquire('a'), l.tryAcquire('a'), l.tryAcquire('b')]).toEqual([true, true, false, true]);
    l.release('a');
    expect([l.tryAcquire('a'), l.count('a'), l.count('b')]).toEqual([true, 2, 1]);
    expect(new AddressLimiter(0).tryAcquire('a')).toBe(true);
  });

  it('holds a socket against its address until the socket closes', () => {
    const l = new AddressLimiter(1);
    const socket = () => Object.assign(new EventEmitter(), { remoteAddress: '10.0.0.1' });
    const first = socket();
    expect([l.hold(first), l.hold(socket())]).toEqual([true, false]);
    first.emit('close');
    expect([l.count('10.0.0.1'), l.hold(socket())]).toEqual([0, true]);
    first.emit('close'); // a second close frees nothing more
    expect(l.count('10.0.0.1')).toBe(1);
  });
});

describe('messageTooLarge', () => {
  it('counts UTF-8 bytes, not characters', () => {
    expect(messageTooLarge('x'.repeat(10), 10)).toBeUndefined();
    expect(messageTooLarge('x'.repeat(11), 10)).toBe('message is larger than 10 bytes');
    expect(messageTooLarge('é'.repeat(5), 10)).toBeUndefined(); // 10 bytes
    expect(messageTooLarge('é'.repeat(5) + 'x', 10)).toBe('message is larger than 10 bytes');
    expect(messageTooLarge('😀😀', 8)).toBeUndefined();
    expect(messageTooLarge('😀😀x', 8)).toBeDefined();
  });
});
