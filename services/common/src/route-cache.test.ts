import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.ts';
import type { PushResult } from './push.ts';
import { RouteCache, ROUTE_CACHE_TTL_MS } from './route-cache.ts';

function setup(routes: Map<number, string>) {
  const clock = new ManualClock();
  let lookups = 0;
  const cache = new RouteCache(async (u) => {
    lookups++;
    return routes.get(u);
  }, clock);
  return { clock, cache, lookups: () => lookups };
}

/** A push to server `s` reaches user 7 only where `where` says it is. */
const pushTo = (where: { server: string }, log: string[]) => async (s: string): Promise<PushResult> => {
  log.push(s);
  return s === where.server ? { delivered: 1, offline: [] } : { delivered: 0, offline: [7] };
};

describe('RouteCache', () => {
  it('looks a found route up once per TTL, an absent one every time', async () => {
    const { clock, cache, lookups } = setup(new Map([[7, 's1']]));
    expect(await cache.get(7)).toBe('s1');
    expect(await cache.get(7)).toBe('s1');
    expect(lookups()).toBe(1);
    clock.advance(ROUTE_CACHE_TTL_MS);
    expect(await cache.get(7)).toBe('s1');
    expect(lookups()).toBe(2);
    expect(await cache.get(8)).toBeUndefined();
    expect(await cache.get(8)).toBeUndefined();
    expect(lookups()).toBe(4);
  });

  it('follows a receiver who moved: the old server says offline, the route is looked up again, pushed once more', async () => {
    const routes = new Map([[7, 's1']]);
    const { cache, lookups } = setup(routes);
    const where = { server: 's1' };
    const log: string[] = [];
    expect(await cache.deliver(7, (await cache.get(7))!, pushTo(where, log))).toEqual({ delivered: true });
    routes.set(7, 's2');
    where.server = 's2';
    // The remembered route still says s1: one wasted push there, then s2.
    expect(await cache.deliver(7, (await cache.get(7))!, pushTo(where, log))).toEqual({ delivered: true });
    expect(log).toEqual(['s1', 's1', 's2']);
    expect(await cache.get(7)).toBe('s2');
    expect(lookups()).toBe(2);
  });

  it('pushes once when the receiver is not where the route says and has not moved, and reports a failure', async () => {
    const routes = new Map([[7, 's1']]);
    const { cache } = setup(routes);
    const log: string[] = [];
    expect(await cache.deliver(7, 's1', pushTo({ server: 'nowhere' }, log))).toEqual({ delivered: false });
    expect(log).toEqual(['s1']);
    const boom = new Error('down');
    expect(await cache.deliver(7, 's1', () => Promise.reject(boom))).toEqual({ delivered: false, error: boom });
    routes.delete(7);
    expect(await cache.deliver(7, 's1', pushTo({ server: 'nowhere' }, log))).toEqual({ delivered: false });
    expect(await cache.get(7)).toBeUndefined();
  });

  it('starts the first push synchronously, so pushes issued in order leave in order', () => {
    const { cache } = setup(new Map());
    const log: string[] = [];
    void cache.deliver(7, 's1', async (s) => (log.push(`a@${s}`), { delivered: 1, offline: [] }));
    void cache.deliver(7, 's1', async (s) => (log.push(`b@${s}`), { delivered: 1, offline: [] }));
    expect(log).toEqual(['a@s1', 'b@s1']);
  });
});
