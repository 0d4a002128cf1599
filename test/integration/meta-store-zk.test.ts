import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { MetaStore } from '../../services/common/src/meta-store/types.ts';
import { ZkMetaStore } from '../../services/common/src/meta-store/zookeeper.ts';
import type { ServerInfo } from '../../services/common/src/server-address.ts';
import { describeMetaStoreContract } from '../contracts/meta-store.ts';
import { startTcpProxy, type TcpProxy } from '../e2e/harness/tcp-proxy.ts';

const stores: ZkMetaStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function store(root: string, sessionTimeoutMs = 4000): ZkMetaStore {
  const s = new ZkMetaStore({ connect: inject('zkConnect'), root, sessionTimeoutMs });
  stores.push(s);
  return s;
}

const data = (connections: number) => ({ wsPath: '/ws', version: 'test', connections, startedAt: 1 });
const ids = (servers: readonly ServerInfo[]) => servers.map((s) => s.id);

describe('ZooKeeper MetaStore', () => {
  it('creates the root, registers ephemeral CIM-named nodes and publishes them to watchers', async () => {
    const root = `/cim-meta-${randomBytes(4).toString('hex')}/nested`;
    const server = store(root);
    const watcher = store(root);
    await Promise.all([server.start(), watcher.start()]);
    expect(watcher.servers()).toEqual([]);
    const reg = await server.register({ host: '10.1.2.3', tcpPort: 11211, httpPort: 8081 }, data(0));
    await expect.poll(() => ids(watcher.servers())).toEqual(['10.1.2.3:11211:8081']);
    await expect.poll(() => watcher.servers()[0]?.data?.connections).toBe(0);

    await reg.update(data(42));
    await expect.poll(() => watcher.servers()[0]?.data?.connections).toBe(42);

    await reg.deregister();
    await expect.poll(() => ids(watcher.servers())).toEqual([]);
  });

  it('removes a server when its session closes and notifies listeners', async () => {
    const root = `/cim-meta-${randomBytes(4).toString('hex')}`;
    const a = store(root);
    const b = store(root);
    const watcher = store(root);
    await Promise.all([a.start(), b.start(), watcher.start()]);
    const seen: string[][] = [];
    watcher.onChange((servers) => seen.push(ids(servers)));
    await a.register({ host: '10.0.0.1', tcpPort: 1, httpPort: 2 }, data(0));
    await b.register({ host: '10.0.0.2', tcpPort: 1, httpPort: 2 }, data(0));
    await expect.poll(() => ids(watcher.servers())).toEqual(['10.0.0.1:1:2', '10.0.0.2:1:2']);
    await a.close();
    await expect.poll(() => ids(watcher.servers())).toEqual(['10.0.0.2:1:2']);
    expect(seen.at(-1)).toEqual(['10.0.0.2:1:2']);
  });

  it('replaces a node left by a previous process with the same address', async () => {
    const root = `/cim-meta-${randomBytes(4).toString('hex')}`;
    const old = store(root, 20_000);
    await old.start();
    await old.register({ host: '10.0.0.9', tcpPort: 1, httpPort: 2 }, data(1));
    const restarted = store(root);
    await restarted.start();
    await restarted.register({ host: '10.0.0.9', tcpPort: 1, httpPort: 2 }, data(7));
    await expect.poll(() => restarted.servers()[0]?.data?.connections).toBe(7);
  });
});

// Every store talks to ZooKeeper through its own proxy, so one store can be cut off alone; a direct
// observer tells when ZooKeeper itself has ended the cut-off session.
describeMetaStoreContract('zookeeper', async () => {
  const root = `/cim-contract-${randomBytes(4).toString('hex')}`;
  const zkPort = Number(inject('zkConnect').split(':').at(-1));
  const owned: { store: ZkMetaStore; proxy: TcpProxy }[] = [];
  const observer = new ZkMetaStore({ connect: inject('zkConnect'), root, sessionTimeoutMs: 2000 });
  await observer.start();
  return {
    async store() {
      const proxy = await startTcpProxy(zkPort);
      const s = new ZkMetaStore({ connect: `127.0.0.1:${proxy.port}`, root, sessionTimeoutMs: 2000 });
      owned.push({ store: s, proxy });
      await s.start();
      return s;
    },
    async loseSession(store: MetaStore, lost: readonly string[]) {
      const entry = owned.find((o) => o.store === store)!;
      const before = entry.store.stats().session_lost;
      await entry.proxy.cut();
      await expect.poll(() => ids(observer.servers()).filter((id) => lost.includes(id)), { timeout: 15_000 }).toEqual([]);
      await expect.poll(() => entry.store.stats().session_lost, { timeout: 15_000 }).toBeGreaterThan(before);
      await entry.proxy.resume();
    },
    async close() {
      await Promise.all(owned.map(async ({ store, proxy }) => {
        await store.close();
        await proxy.close();
      }));
      await observer.close();
    },
  };
});
