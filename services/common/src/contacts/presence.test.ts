/** PresenceNotifier with in-memory stores: who gets which event, once, and the crash sweep's guards. */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.ts';
import { silentLogger } from '../log.ts';
import { MemoryMetaHub, MemoryMetaStore } from '../meta-store/memory.ts';
import type { PushRequest } from '../push.ts';
import { MemoryRouteStore } from '../route-store/memory.ts';
import { MemoryContactStore } from './memory.ts';
import { PresenceNotifier } from './presence.ts';

const A = '127.0.0.1:1001:2001';
const B = '127.0.0.1:1002:2002';
const info = (id: string) => {
  const [host, tcp, http] = id.split(':');
  return { id, host: host!, tcpPort: Number(tcp), httpPort: Number(http), data: { wsPath: '/ws', version: '', connections: 0, startedAt: 0 } };
};

async function setup() {
  const clock = new ManualClock();
  const store = new MemoryRouteStore(clock);
  const contacts = new MemoryContactStore();
  const hub = new MemoryMetaHub();
  hub.set(info(A));
  hub.set(info(B));
  const meta = new MemoryMetaStore(hub);
  const pushes: { server: string; request: PushRequest }[] = [];
  const push = { push: async (server: string, request: PushRequest) => (pushes.push({ server, request }), { delivered: request.receivers?.length ?? 0, offline: [] }) };
  const notifier = (self: string) => new PresenceNotifier({ contacts, directory: store, meta, push, clock, log: silentLogger, selfId: () => self });
  const [alice, bob, dave] = [await store.registerAccount('alice'), await store.registerAccount('bob'), await store.registerAccount('dave')];
  await contacts.add(alice.userId, bob.userId, 10);
  await store.login(alice.userId, A, 60_000);
  await store.login(dave.userId, A, 60_000);
  return { store, contacts, hub, meta, pushes, notifier, alice, bob, dave };
}

describe('PresenceNotifier', () => {
  it('pushes one PRESENCE per transition to the watchers\' servers only', async () => {
    const { pushes, notifier, alice, bob, store } = await setup();
    const onB = notifier(B);
    await store.login(bob.userId, B, 60_000);
    await onB.online(bob.userId, 'bob');
    await onB.online(bob.userId, 'bob'); // a replaced session: no second event
    await onB.offline(bob.userId, 'bob');
    await onB.offline(bob.userId, 'bob');
    expect(pushes.map((p) => [p.server, p.request.cmd, p.request.receivers, p.request.properties['online'], p.request.properties['sendUserName']])).toEqual([
      [A, 'PRESENCE', [alice.userId], '1', 'bob'],
      [A, 'PRESENCE', [alice.userId], '0', 'bob'],
    ]);
  });

  it('sweeps the users of a server gone from ZooKeeper once, and never on a not-ready or empty view', async () => {
    const { pushes, notifier, hub, meta, bob, store } = await setup();
    await store.login(bob.userId, B, 60_000);
    await notifier(B).online(bob.userId, 'bob');
    pushes.length = 0;
    const sweeper = notifier(A);
    expect(await sweeper.sweep()).toBe(0); // not started: no view yet
    await meta.start();
    expect(await sweeper.sweep()).toBe(0); // B is alive
    hub.delete(A);
    hub.delete(B);
    expect(await sweeper.sweep()).toBe(0); // empty view: proves nothing
    hub.set(info(A));
    expect(await sweeper.sweep()).toBe(1);
    expect(await sweeper.sweep()).toBe(0);
    expect(pushes.map((p) => p.request.properties['online'])).toEqual(['0']);
  });

  it('leaves a user of a dead server who is already routed to a live one', async () => {
    const { pushes, notifier, hub, meta, bob, store } = await setup();
    await meta.start();
    await store.login(bob.userId, B, 60_000);
    await notifier(B).online(bob.userId, 'bob');
    hub.delete(B);
    await store.login(bob.userId, A, 60_000, B);
    pushes.length = 0;
    expect(await notifier(A).sweep()).toBe(0);
    await notifier(A).online(bob.userId, 'bob'); // moves the announcement: no event either
    expect(pushes).toHaveLength(0);
  });
});
