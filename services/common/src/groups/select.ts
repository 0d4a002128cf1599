/** Which GroupStore a component uses: the one it was given, else Redis beside its route store, else memory. */
import { RedisRouteStore } from '../route-store/redis.ts';
import type { RouteStore } from '../route-store/types.ts';
import { MemoryGroupStore } from './memory.ts';
import { RedisGroupStore } from './redis.ts';
import type { GroupStore } from './types.ts';

export function groupsOf(deps: { readonly store: RouteStore; readonly groups?: GroupStore | undefined }): GroupStore {
  return deps.groups ?? (deps.store instanceof RedisRouteStore ? new RedisGroupStore(deps.store.client) : new MemoryGroupStore());
}
