/**
 * A ZooKeeper that accepts connections and never answers the handshake (as one does while it starts),
 * or closes them at once: the store must give up on such a client, keep trying with fresh ones, and
 * once ZooKeeper answers be registered and watching within a bound.
 */
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { ZkMetaStore, type ZkMetaStoreOptions } from '../../services/common/src/meta-store/zookeeper.ts';

type Mode = 'blackhole' | 'close' | 'forward';

interface FaultProxy {
  readonly port: number;
  /** applies to connections accepted from now on; a black-holed connection stays silent forever */
  mode: Mode;
  readonly accepted: Record<Mode, number>;
  close(): Promise<void>;
}

async function startFaultProxy(targetPort: number, mode: Mode): Promise<FaultProxy> {
  const sockets = new Set<Socket>();
  const accepted: Record<Mode, number> = { blackhole: 0, close: 0, forward: 0 };
  const proxy = { mode, accepted } as { mode: Mode; accepted: Record<Mode, number> };
  const server: Server = createServer((client) => {
    accepted[proxy.mode]++;
    sockets.add(client);
    client.on('error', () => undefined).on('close', () => sockets.delete(client));
    if (proxy.mode === 'close') return void client.destroy();
    if (proxy.mode === 'blackhole') return void client.on('data', () => undefined); // read and drop, never answer
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(upstream);
    upstream.on('error', () => client.destroy()).on('close', () => (sockets.delete(upstream), client.destroy()));
    client.on('close', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return Object.assign(proxy, {
    port: typeof address === 'object' && address ? address.port : 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  });
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const data = { wsPath: '/ws', version: 'test', connections: 0, startedAt: 1 };
const address = { host: '10.7.0.1', tcpPort: 11211, httpPort: 8081 };
const ID = '10.7.0.1:11211:8081';
// Deadline to give up on a silent client, and the longest backoff between clients.
const CONNECT_TIMEOUT_MS = 2000;
const MAX_BACKOFF_MS = 1000;
/** After ZooKeeper starts answering: the hung client's deadline + one backoff + connect and sync (2 s, loaded machine). */
const READY_BOUND_MS = CONNECT_TIMEOUT_MS + MAX_BACKOFF_MS + 2000;

async function setup(mode: Mode) {
  const zkConnect = inject('zkConnect');
  const proxy = await startFaultProxy(Number(zkConnect.split(':').at(-1)), mode);
  cleanups.push(() => proxy.close());
  const root = `/cim-connect-${randomBytes(4).toString('hex')}`;
  const make = (opts: Partial<ZkMetaStoreOptions> & { connect: string }) => {
    const s = new ZkMetaStore({ root, sessionTimeoutMs: 4000, ...opts });
    cleanups.push(() => s.close());
    return s;
  };
  const observer = make({ connect: zkConnect });
  await observer.start();
  const store = make({
    connect: `127.0.0.1:${proxy.port}`,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    startTimeoutMs: 500,
    backoff: { initialDelayMs: 200, maxDelayMs: MAX_BACKOFF_MS },
  });
  return { proxy, observer, store };
}

async function failsThenRecovers(mode: Mode, failedAttempts: (s: ZkMetaStore) => number): Promise<void> {
  const { proxy, observer, store } = await setup(mode);
  const started = Date.now();
  await store.start(); // returns after startTimeoutMs without a session; keeps trying
  expect(Date.now() - started).toBeLessThan(2000);
  // register() before any session must not throw: it is remembered
  const reg = await store.register(address, data);
  expect(store.isReady()).toBe(false);
  // Two clients given up on: the store does not hang on the first one.
  await expect.poll(() => failedAttempts(store), { timeout: 4 * (CONNECT_TIMEOUT_MS + MAX_BACKOFF_MS) }).toBeGreaterThanOrEqual(2);
  expect(store.stats().connect_attempt).toBeGreaterThanOrEqual(2);
  expect(store.isReady()).toBe(false);
  expect(observer.servers()).toEqual([]);
  expect(proxy.accepted[mode]).toBeGreaterThanOrEqual(2);
  expect(proxy.accepted.forward).toBe(0);

  proxy.mode = 'forward';
  const since = Date.now();
  await expect.poll(() => store.isReady() && observer.servers().some((s) => s.id === ID) && store.servers().some((s) => s.id === ID), { timeout: READY_BOUND_MS, interval: 20 }).toBe(true);
  const recoveredMs = Date.now() - since;
  expect(recoveredMs).toBeLessThan(READY_BOUND_MS);
  expect(store.stats().session_ready).toBe(1);
  expect(proxy.accepted.forward).toBeGreaterThanOrEqual(1);

  // and the registration is live: updates reach the observer
  await reg.update({ ...data, connections: 3 });
  await expect.poll(() => observer.servers().find((s) => s.id === ID)?.data?.connections).toBe(3);
  await reg.deregister();
  await expect.poll(() => observer.servers()).toEqual([]);
}

describe('ZooKeeper MetaStore against a ZooKeeper that does not answer', () => {
  it('gives up on a black-holed handshake, and is registered and watching once ZooKeeper answers', async () => {
    await failsThenRecovers('blackhole', (s) => s.stats().connect_timeout);
  });

  it('keeps trying through connections closed at once, and is registered and watching once ZooKeeper answers', async () => {
    await failsThenRecovers('close', (s) => s.stats().connect_timeout);
  });

  it('close() returns within its bound while the handshake hangs, and leaves no client behind', async () => {
    const { proxy, store } = await setup('blackhole');
    await store.start();
    await store.register(address, data);
    await expect.poll(() => proxy.accepted.blackhole).toBeGreaterThanOrEqual(1);
    const t0 = Date.now();
    await store.close();
    expect(Date.now() - t0).toBeLessThan(1500);
    const attempts = store.stats().connect_attempt;
    const accepted = proxy.accepted.blackhole;
    // Nothing reconnects after close: two connect deadlines later, still the same counts.
    await new Promise((r) => setTimeout(r, CONNECT_TIMEOUT_MS + MAX_BACKOFF_MS));
    expect(store.stats().connect_attempt).toBe(attempts);
    expect(proxy.accepted.blackhole).toBe(accepted);
  });
});
