/**
 * Gives the young generation's memory back to the system once a process has gone idle.
 *
 * V8 grows its young generation (up to --max-semi-space-size) while a process allocates fast, at start-up
 * and during load, and shrinks it only in a garbage collection that finds allocation slow. A process that
 * then sits idle allocates too little to trigger any collection and keeps the memory: at rest cim-server
 * held 23 of its 111 MiB RSS in an empty young generation, cim-route 32 of its 125 MiB (docs/benchmarks.md).
 * When the event loop has been idle for a whole check interval and the young generation holds more than a
 * busy-free process needs, one full collection lets V8 shrink it; V8 unmaps the pages a few seconds later.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from './log.ts';

/** How often the process is looked at. */
export const IDLE_CHECK_MS = 10_000;
/** Busy below this share of the interval still counts as idle (timers, ZooKeeper pings, metrics scrapes). */
export const IDLE_UTILIZATION = 0.01;
/** A young generation this large after an idle interval is start-up or load left-overs (V8 starts at 1 MiB). */
export const YOUNG_GENERATION_SLACK_BYTES = 4 * 2 ** 20;

/** What one check sees. */
export interface IdleReading {
  /** share of the interval the event loop was busy, 0..1 */
  readonly utilization: number;
  /** bytes V8 holds for the young generation (its new space), used or not */
  readonly youngGenerationBytes: number;
}

/** The decision, apart from the I/O: collect when idle and the young generation is larger than it needs to be. */
export function shouldCollect(reading: IdleReading): boolean {
  return reading.utilization < IDLE_UTILIZATION && reading.youngGenerationBytes > YOUNG_GENERATION_SLACK_BYTES;
}

export function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.physical_space_size ?? 0;
}

/**
 * V8's `gc()`, without running the whole process with --expose-gc (which would give every module a global
 * `gc`): the flag is set just long enough to create one context that has it. Undefined when V8 refuses.
 */
export function fullCollector(): (() => void) | undefined {
  const existing = (globalThis as { gc?: unknown }).gc;
  if (typeof existing === 'function') return existing as () => void;
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    setFlagsFromString('--no-expose-gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

export interface IdleMemoryReleaser {
  stop(): void;
}

/** Checks every `intervalMs` (unref'd: never keeps the process alive) and collects when `shouldCollect`. */
export function releaseMemoryWhenIdle(log: Logger, intervalMs = IDLE_CHECK_MS): IdleMemoryReleaser {
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const reading: IdleReading = { utilization: performance.eventLoopUtilization(now, last).utilization, youngGenerationBytes: youngGenerationBytes() };
    last = now;
    if (!shouldCollect(reading)) return;
    // Taken for this collection only: the context that carries gc() is not kept alive between collections.
    const collect = fullCollector();
    if (!collect) {
      log.debug('idle memory release unavailable: V8 gave no gc()');
      clearInterval(timer);
      return;
    }
    collect();
    log.debug({ youngGenerationBytes: reading.youngGenerationBytes, afterBytes: youngGenerationBytes() }, 'idle: collected to shrink the young generation');
    // The collection itself counts as busy time; start the next interval after it.
    last = performance.eventLoopUtilization();
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
