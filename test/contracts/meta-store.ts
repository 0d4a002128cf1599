/**
 * The MetaStore contract, run against every backend: memory (unit tier) and ZooKeeper (integration
 * tier). Several stores of one fixture share one backend, as the processes of a cluster do.
 */
import { describe, expect, it } from 'vitest';
import type { MetaStore } from '../../services/common/src/meta-store/types.ts';
import { formatServerAddress, type ServerAddress, type ServerInfo } from '../../services/common/src/server-address.ts';

export interface MetaStoreFixture {
  /** a started store on the fixture's backend (think: another process) */
  store(): Promise<MetaStore>;
  /**
   * Makes `store` lose its session the way the backend can (ZooKeeper: cut off until the session
   * expired and `ids` vanished for everyone else; memory: there are no sessions, nothing to lose).
   */
  loseSession(store: MetaStore, ids: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

const data = (connections: number) => ({ wsPath: '/ws', version: 'contract', connections, startedAt: 1 });
const ids = (servers: readonly ServerInfo[]) => servers.map((s) => s.id);
const addr = (n: number): ServerAddress => ({ host: `10.9.0.${n}`, tcpPort: 11211, httpPort: 8081 });

export function describeMetaStoreContract(name: string, create: () => Promise<MetaStoreFixture>): void {
  const withFixture = (fn: (f: MetaStoreFixture) => Promise<void>) => async () => {
    const f = await create();
    try {
      await fn(f);
    } finally {
      await f.close();
    }
  };

  describe(`MetaStore contract: ${name}`, () => {
    it('publishes registrations, updates and deregistrations to every store, as frozen sorted snapshots', withFixture(async (f) => {
      const server = await f.store();
      const watcher = await f.store();
      expect(watcher.isReady()).toBe(true);
      expect(watcher.servers()).toEqual([]);
      const regB = await server.register(addr(2), data(0));
      const regA = await server.register(addr(1), data(5));
      await expect.poll(() => ids(watcher.servers())).toEqual([formatServerAddress(addr(1)), formatServerAddress(addr(2))]);
      await expect.poll(() => watcher.servers().map((s) => s.data?.connections)).toEqual([5, 0]);
      expect(Object.isFrozen(watcher.servers())).toBe(true);
      expect(watcher.servers()[0]).toMatchObject({ host: '10.9.0.1', tcpPort: 11211, httpPort: 8081 });

      await regB.update(data(42));
      await expect.poll(() => watcher.servers()[1]?.data?.connections).toBe(42);

      await regA.deregister();
      await expect.poll(() => ids(watcher.servers())).toEqual([formatServerAddress(addr(2))]);
      await regA.deregister(); // twice is harmless
      await regA.update(data(9)); // and an update after it does not bring the server back
      await regB.deregister();
      await expect.poll(() => watcher.servers()).toEqual([]);
      expect(server.isReady()).toBe(true);
    }));

    it('calls onChange listeners with each new snapshot until they unsubscribe', withFixture(async (f) => {
      const server = await f.store();
      const watcher = await f.store();
      const seen: string[][] = [];
      const off = watcher.onChange((s) => seen.push(ids(s)));
      const reg = await server.register(addr(3), data(0));
      await expect.poll(() => seen.at(-1)).toEqual([formatServerAddress(addr(3))]);
      for (const snapshot of seen) expect(snapshot.length).toBeLessThanOrEqual(1);
      off();
      const count = seen.length;
      await reg.deregister();
      await expect.poll(() => watcher.servers()).toEqual([]);
      expect(seen.length).toBe(count);
    }));

    it('removes the registrations of a store that closes', withFixture(async (f) => {
      const server = await f.store();
      const watcher = await f.store();
      await server.register(addr(4), data(0));
      await expect.poll(() => ids(watcher.servers())).toEqual([formatServerAddress(addr(4))]);
      await server.close();
      await expect.poll(() => watcher.servers()).toEqual([]);
    }));

    it('registers again by itself after losing its session, with the latest data', withFixture(async (f) => {
      const server = await f.store();
      const watcher = await f.store();
      const reg = await server.register(addr(5), data(1));
      const id = formatServerAddress(addr(5));
      await expect.poll(() => watcher.servers()[0]?.data?.connections).toBe(1);
      await f.loseSession(server, [id]);
      await expect.poll(() => ids(watcher.servers()), { timeout: 20_000 }).toEqual([id]);
      await expect.poll(() => server.isReady(), { timeout: 20_000 }).toBe(true);
      await reg.update(data(2));
      await expect.poll(() => watcher.servers()[0]?.data?.connections).toBe(2);
      // and it still watches: a server registered by another store shows up in its list
      const other = await f.store();
      await other.register(addr(6), data(0));
      await expect.poll(() => ids(server.servers())).toEqual([id, formatServerAddress(addr(6))]);
    }));
  });
}
