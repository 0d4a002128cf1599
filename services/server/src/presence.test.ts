/** A server clears the routes it no longer holds: after a logout that failed, and after a refresh that raced a close. */
import { beforeEach, describe, expect, it } from 'vitest';
import { buildFixture, SELF, settle, type Fixture } from './node-fixture.ts';

let f: Fixture;
beforeEach(async () => {
  f = await buildFixture();
});

/** The store's logout fails `times` times (Redis unreachable), then works again. */
function failLogouts(times: number): void {
  const logout = f.store.logout.bind(f.store);
  let left = times;
  f.store.logout = (userId, server) => (left-- > 0 ? Promise.reject(new Error('redis unreachable')) : logout(userId, server));
}

describe('routes a server leaves behind', () => {
  it('clears a route that a presence refresh wrote back while the session closed', async () => {
    // The refresh writes back a missing route of every user it was given: a client that left while it was on its
    // way had its route cleared first and written again after, and its next /login was refused (5000) until the
    // route expired.
    const a = await f.connect('a');
    const b = await f.connect('b');
    const refresh = f.store.refreshPresence.bind(f.store);
    f.store.refreshPresence = async (server, ids, ttl) => {
      f.node.closed(a.session);
      await settle();
      expect(await f.store.getRoute(a.userId)).toBeUndefined(); // the logout at close ran first
      return refresh(server, ids, ttl);
    };
    await f.node.refreshPresence();
    await settle();
    expect(await f.store.getRoute(a.userId)).toBeUndefined();
    expect(await f.store.getRoute(b.userId)).toBe(SELF);
  });

  it('tries a logout that failed at close again with the next refresh', async () => {
    const a = await f.connect('a');
    failLogouts(2);
    f.node.closed(a.session);
    await settle();
    expect(await f.store.getRoute(a.userId)).toBe(SELF); // left behind
    await f.node.refreshPresence(); // no user here: the retry runs anyway, and fails once more
    await settle();
    expect(await f.store.getRoute(a.userId)).toBe(SELF);
    await f.node.refreshPresence();
    await settle();
    expect(await f.store.getRoute(a.userId)).toBeUndefined();
  });

  it('keeps the route of a user who came back to this server before the retry', async () => {
    const first = await f.connect('a');
    failLogouts(1);
    f.node.closed(first.session);
    await settle();
    const again = await f.connect('a');
    expect(again.userId).toBe(first.userId);
    await f.node.refreshPresence();
    await settle();
    expect(await f.store.getRoute(first.userId)).toBe(SELF);
    expect(again.transport.closedWith).toBeUndefined();
  });
});
