/**
 * The lifecycle's retry rules: which failures earn another attempt, which end the client, and how to wait
 * between attempts (abortably, so close() never waits for a backoff).
 */
import { Codes } from '../../../common/src/codes.ts';
import { ClientErrorCode, CimClientError } from './errors.ts';
import type { ResolvedOptions } from './options.ts';
import type { RouteApi } from './route-api.ts';

/**
 * Route answers that mean "not yet", not "no": no server in the route's view yet (7100: a cluster that just became
 * Ready, a route whose ZooKeeper watch is catching up) or the identity provider down (9305). Not 5000: another
 * client of the user is logged in, which retrying would only fight.
 */
const NOT_YET = new Set<string>([Codes.SERVER_NOT_AVAILABLE.code, Codes.IDP_UNAVAILABLE.code]);

/** Failures of the first connect worth another attempt: the network, or the cluster not ready yet; not the account. */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof CimClientError)) return false;
  if (err.code === ClientErrorCode.ROUTE_UNAVAILABLE || err.code === ClientErrorCode.CONNECT_FAILED || err.code === ClientErrorCode.TIMEOUT) return true;
  return err.serverCode !== undefined && NOT_YET.has(err.serverCode);
}

/** Errors that end a reconnect loop: the server said do not come back. */
export function isTerminal(err: CimClientError): boolean {
  return err.code === ClientErrorCode.REPLACED || err.code === ClientErrorCode.DISCONNECTED || err.code === ClientErrorCode.LOGIN_REJECTED;
}

/**
 * Waits before the 2nd, 3rd and 4th attempt of the logout in close(). A route whose Redis is being replaced or
 * failed over answers 5xx for a few seconds (ioredis fails queued commands on its third reconnect); a logout lost
 * then leaves the user's route behind, and the next login is refused as a repeat login until that route expires.
 */
export const LOGOUT_RETRY_DELAYS_MS: readonly number[] = [300, 1_000, 2_000];

/** Runs `fn` again after each of `delaysMs` while it fails with a transient error (isTransient); then throws. */
export async function retryTransient<T>(fn: () => Promise<T>, delaysMs: readonly number[]): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const delay = delaysMs[attempt];
      if (delay === undefined || !isTransient(err)) throw err;
      await sleep(delay); // no signal: close() retries its logout after its own abort signal has fired
    }
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts (when one is given). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Registers (or looks up) the account of `o.userName`, retrying transient failures like the first connect;
 * resolves with its userId, which must equal `expectedUserId` when one is given.
 */
export async function registerWithRetry(route: RouteApi, o: ResolvedOptions, expectedUserId: number | undefined, signal: AbortSignal): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      const account = await route.registerAccount(o.userName, signal, o.password, o.idToken ? await o.idToken() : undefined);
      if (expectedUserId !== undefined && account.userId !== expectedUserId) {
        throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, `user "${o.userName}" is registered with id ${account.userId}, not ${expectedUserId}`);
      }
      return account.userId;
    } catch (err) {
      const delayMs = attempt < o.connectAttempts && isTransient(err) ? o.retryStrategy(attempt) : null;
      if (delayMs === null) throw err;
      await sleep(delayMs, signal);
    }
  }
}
