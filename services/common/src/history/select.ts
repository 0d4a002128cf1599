/** Which HistoryStore a component uses: the one it was given, else Redis beside its route store, else memory. */
import type { Clock } from '../clock.ts';
import { RedisRouteStore } from '../route-store/redis.ts';
import type { RouteStore } from '../route-store/types.ts';
import { MemoryHistoryStore } from './memory.ts';
import { RedisHistoryStore } from './redis.ts';
import type { HistoryLimits, HistoryStore } from './types.ts';

export interface HistoryConfig {
  /** messages kept per conversation; 0 = no server-side history */
  readonly historyMax: number;
  /** seconds a conversation's history lives after its last message */
  readonly historyTtl: number;
}

export function historyOf(config: HistoryConfig, deps: { readonly store: RouteStore; readonly history?: HistoryStore | undefined }, clock: Clock): { store: HistoryStore; limits: HistoryLimits } | undefined {
  if (config.historyMax === 0) return undefined;
  const store = deps.history ?? (deps.store instanceof RedisRouteStore ? new RedisHistoryStore(deps.store.client) : new MemoryHistoryStore(clock));
  return { store, limits: { maxEntries: config.historyMax, ttlMs: config.historyTtl * 1000 } };
}
