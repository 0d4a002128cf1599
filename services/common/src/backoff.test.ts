import { describe, expect, it } from 'vitest';
import { backoffDelayMs, DEFAULT_BACKOFF } from './backoff.ts';

describe('backoffDelayMs', () => {
  const policy = { initialDelayMs: 100, maxDelayMs: 1_000 };

  it.each([
    [1, 0, 50],
    [1, 0.999999, 100],
    [2, 0, 100],
    [3, 0.5, 300],
    [4, 0, 400],
    [5, 0.999999, 1_000],
    [50, 0, 500],
  ])('attempt %i with random %f waits %i ms', (attempt, random, expected) => {
    expect(backoffDelayMs(attempt, policy, () => random)).toBe(expected);
  });

  it('never exceeds the cap and never retries instantly', () => {
    for (let attempt = 1; attempt < 200; attempt++) {
      const delay = backoffDelayMs(attempt, DEFAULT_BACKOFF, Math.random);
      expect(delay).toBeGreaterThanOrEqual(DEFAULT_BACKOFF.initialDelayMs / 2);
      expect(delay).toBeLessThanOrEqual(DEFAULT_BACKOFF.maxDelayMs);
    }
  });

  it('honours the multiplier', () => {
    expect(backoffDelayMs(3, { initialDelayMs: 10, maxDelayMs: 10_000, multiplier: 3 }, () => 0.999999)).toBe(90);
  });

  it('refuses attempt numbers below 1', () => {
    expect(() => backoffDelayMs(0, policy, Math.random)).toThrow(RangeError);
  });
});
