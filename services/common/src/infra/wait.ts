/**
 * Waiting for a condition by polling: the one implementation behind the launchers (`cim up`, `cim bench`),
 * the integration harness and the e2e harness.
 */

/** Thrown from a check to stop waiting at once (e.g. the awaited process died), even when errors are retried. */
export class WaitAborted extends Error {
  override name = 'WaitAborted';
}

export interface WaitOptions {
  readonly timeoutMs: number;
  /** pause between checks; default 50 ms */
  readonly intervalMs?: number;
  /** appended to the timeout error, e.g. the log tail of the process that should have answered */
  readonly describe?: () => string;
  /**
   * true: an error thrown by the check counts as "not yet" (the last one is named on timeout), except
   * WaitAborted; false (default): it ends the wait at once.
   */
  readonly retryErrors?: boolean;
}

/** Polls `check` until it returns a value other than undefined or false; fails after `timeoutMs` naming `what`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, opts: WaitOptions): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      if (!opts.retryErrors || err instanceof WaitAborted) throw err;
      lastErr = err;
    }
    if (Date.now() > deadline) {
      const cause = lastErr === undefined ? '' : ` (last error: ${String(lastErr)})`;
      const detail = opts.describe?.() ?? '';
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what}${cause}${detail ? `\n${detail}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}

/** Short form: errors thrown by `check` end the wait. */
export function waitUntil<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, intervalMs = 50): Promise<T> {
  return waitFor(what, check, { timeoutMs, intervalMs });
}
