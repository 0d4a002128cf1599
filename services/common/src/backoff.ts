/**
 * Reconnect delays: capped exponential growth with "equal jitter" (half fixed, half random), so a fleet
 * of clients cut off by the same server restart spreads its logins over time instead of hitting the
 * route in one burst, and no client ever retries instantly. Pure: the random source is injected.
 */

export interface BackoffPolicy {
  /** Delay before the first retry, before jitter. */
  readonly initialDelayMs: number;
  /** Upper bound of every delay, jitter included. */
  readonly maxDelayMs: number;
  /** Growth factor per attempt; 2 unless told. */
  readonly multiplier?: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialDelayMs: 500, maxDelayMs: 30_000, multiplier: 2 };

/**
 * Delay before retry number `attempt` (1 for the first retry). The result lies in
 * [ceiling / 2, ceiling] where ceiling = min(maxDelayMs, initialDelayMs × multiplier^(attempt − 1)).
 * @param random returns a number in [0, 1), like Math.random.
 */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: () => number): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be an integer >= 1, got ${attempt}`);
  const multiplier = policy.multiplier ?? 2;
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * multiplier ** (attempt - 1));
  const half = ceiling / 2;
  return Math.round(half + random() * half);
}
