/** The login decision when its requester went away while the store answered (a stalled Redis, the client's timeout). */
import { beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/src/clock.ts';
import { MemoryMetaHub, MemoryMetaStore } from '../../common/src/meta-store/memory.ts';
import { MemoryRouteStore } from '../../common/src/route-store/memory.ts';
import { createStrategy } from '../../common/src/selection.ts';
import { login, type LoginDeps } from './login.ts';

const SERVER = '10.0.0.1:11211:8081';
let store: MemoryRouteStore;
let deps: LoginDeps;
let userId: number;

beforeEach(async () => {
  store = new MemoryRouteStore(new ManualClock());
  const hub = new MemoryMetaHub();
  hub.set({ id: SERVER, host: '10.0.0.1', tcpPort: 11211, httpPort: 8081, data: { wsPath: '/ws', version: '', connections: 0, startedAt: 0 } });
  const meta = new MemoryMetaStore(hub);
  await meta.start();
  deps = { store, meta, strategy: createStrategy('round-robin'), probe: async () => true, pendingTtlMs: 20_000 };
  userId = (await store.registerAccount('alice')).userId;
});

describe('login of a requester that went away', () => {
  it('gone before the route is written: writes none', async () => {
    expect(await login(deps, userId, 'alice', () => true)).toEqual({ kind: 'abandoned' });
    expect(await store.getRoute(userId)).toBeUndefined();
    // Its next attempt is not refused as a repeat login.
    expect(await login(deps, userId, 'alice')).toMatchObject({ kind: 'ok', server: { id: SERVER } });
  });

  it('gone while the route was written: takes it back', async () => {
    let asked = 0;
    const goneAfterTheWrite = () => ++asked > 1;
    expect(await login(deps, userId, 'alice', goneAfterTheWrite)).toEqual({ kind: 'abandoned' });
    expect(asked).toBe(2);
    expect(await store.getRoute(userId)).toBeUndefined();
    expect(await login(deps, userId, 'alice')).toMatchObject({ kind: 'ok' });
  });

  it('still there: the route names the chosen server', async () => {
    expect(await login(deps, userId, 'alice', () => false)).toMatchObject({ kind: 'ok', server: { id: SERVER } });
    expect(await store.getRoute(userId)).toBe(SERVER);
    expect(await login(deps, userId, 'alice')).toEqual({ kind: 'repeat' });
  });
});
