/** Shutdown helpers shared by every component. */
import { releaseMemoryWhenIdle } from './idle-memory.ts';
import type { Logger } from './log.ts';
import { waitForSignal } from './signals.ts';

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

/** What a component's `main` closes after it stopped serving. */
export interface Closable {
  close(): Promise<void>;
}

/**
 * Serves until SIGTERM/SIGINT (giving idle memory back meanwhile: idle-memory.ts), then stops the component
 * and closes its stores, every step bounded; exits the process if all of it takes longer than `deadlineMs`
 * (a handle left open by a dead dependency must not keep the process alive past its bound). Returns the exit code.
 */
export async function serveUntilSignal(o: {
  readonly log: Logger;
  readonly deadlineMs: number;
  readonly stop: () => Promise<void>;
  readonly zookeeper: Closable;
  readonly redis: Closable & { readonly client: { readonly status: string; disconnect(): void } };
}): Promise<number> {
  const idle = releaseMemoryWhenIdle(o.log);
  await waitForSignal(o.log);
  idle.stop();
  setTimeout(() => {
    o.log.error({ timeoutMs: o.deadlineMs }, 'shutdown did not finish in time; exiting');
    process.exit(1);
  }, o.deadlineMs).unref();
  await o.stop();
  await bounded(o.zookeeper.close(), 500, 'closing the zookeeper client', o.log);
  await bounded(o.redis.close(), 500, 'closing the redis client', o.log);
  if (o.redis.client.status !== 'end') o.redis.client.disconnect();
  return 0;
}
