/** Shutdown helpers shared by every component. */
import type { Logger } from './log.ts';

/** Waits for a shutdown step at most `ms` (and never throws): a dead dependency must not stall the shutdown. */
export async function bounded(step: Promise<unknown> | undefined, ms: number, what: string, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), Math.max(0, ms))));
  const done = Promise.resolve(step).then(
    () => false,
    (err: unknown) => (log.warn({ err }, `${what} failed`), false),
  );
  if (await Promise.race([done, timedOut])) log.warn({ timeoutMs: ms }, `${what} did not finish in time; going on`);
  clearTimeout(timer);
}
