/** Which ContactStore a component uses: the one it was given, else Redis beside its route store, else memory. */
import { RedisRouteStore } from '../route-store/redis.ts';
import type { RouteStore } from '../route-store/types.ts';
import { MemoryContactStore } from './memory.ts';
import { RedisContactStore } from './redis.ts';
import type { ContactStore } from './types.ts';

export function contactsOf(deps: { readonly store: RouteStore; readonly contacts?: ContactStore | undefined }): ContactStore {
  return deps.contacts ?? (deps.store instanceof RedisRouteStore ? new RedisContactStore(deps.store.client) : new MemoryContactStore());
}
