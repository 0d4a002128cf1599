/**
 * A private Redis Cluster of 3 masters (no replicas) from Debian's redis-server and redis-cli (redis-tools, a
 * dependency of redis-server): every node on 127.0.0.1 with free client and bus ports and a temp dir; the slots
 * are assigned by `redis-cli --cluster create`; ready once every node reports cluster_state:ok.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startProcess, type ManagedProcess } from './child.ts';
import { freePort } from './ports.ts';
import { waitForPing } from './redis-server.ts';
import { waitFor } from './wait.ts';

export interface RedisClusterNode {
  readonly port: number;
  readonly process: ManagedProcess;
}

export interface RedisClusterInstance {
  /** `redis-cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3` (redis-client.ts) */
  readonly url: string;
  readonly nodes: readonly RedisClusterNode[];
  /** FLUSHALL on every master (a cluster client's FLUSHALL reaches one node only). */
  flushAll(): Promise<void>;
  /** The port of the master serving `key`'s slot. */
  masterOf(key: string): Promise<number>;
  /** Stops every node and removes their data. */
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  readonly masters?: number;
  readonly binary?: string;
  readonly cliBinary?: string;
}

/** Cluster-mode nodes that know nothing of each other yet (no slots, no MEET): for tests of how a cluster is formed. */
export interface RedisClusterNodes {
  readonly nodes: readonly RedisClusterNode[];
  /** the cluster bus port of each node, same order */
  readonly busPorts: readonly number[];
  stop(): Promise<void>;
}

const BIND_ATTEMPTS = 3;

export async function startRedisClusterNodes(count: number, o: Pick<RedisClusterOptions, 'binary'> & { bind?: string } = {}): Promise<RedisClusterNodes> {
  const started: { index: number; port: number; bus: number; process: ManagedProcess; dir: string }[] = [];
  const stop = async () => {
    await Promise.all(started.map(async (n) => {
      await n.process.stop('SIGTERM');
      await rm(n.dir, { recursive: true, force: true });
    }));
  };
  // Ports are picked free (ports.ts), but another process may still bind one before redis-server does: such a
  // node is started again on new ports.
  const startNode = async (i: number) => {
    for (let attempt = 1; ; attempt++) {
      const dir = await mkdtemp(join(tmpdir(), 'cim-redis-cluster-'));
      const port = await freePort();
      const bus = await freePort();
      const args = [
        '--port', String(port), '--bind', o.bind ?? '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir,
        '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-port', String(bus),
        '--cluster-announce-ip', '127.0.0.1', '--cluster-node-timeout', '3000',
      ];
      const node = { index: i, port, bus, process: startProcess(`redis-cluster-${i + 1}`, o.binary ?? 'redis-server', args), dir };
      started.push(node);
      try {
        await waitForPing(port, () => node.process);
        return;
      } catch (err) {
        if (attempt >= BIND_ATTEMPTS || !node.process.output().includes('Address already in use')) throw err;
        started.splice(started.indexOf(node), 1);
        await node.process.stop('SIGTERM');
        await rm(dir, { recursive: true, force: true });
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: count }, (_, i) => startNode(i)));
  } catch (err) {
    await stop();
    throw err;
  }
  started.sort((a, b) => a.index - b.index);
  return { nodes: started.map(({ port, process }) => ({ port, process })), busPorts: started.map((n) => n.bus), stop };
}

export async function startRedisCluster(o: RedisClusterOptions = {}): Promise<RedisClusterInstance> {
  const count = o.masters ?? 3;
  const cluster = await startRedisClusterNodes(count, o);
  const started = cluster.nodes;
  const admins: Redis[] = [];
  const stop = async () => {
    for (const a of admins) a.disconnect();
    await cluster.stop();
  };
  try {
    const create = startProcess('redis-cli --cluster create', o.cliBinary ?? 'redis-cli', [
      '--cluster', 'create', ...started.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes',
    ]);
    const code = await create.exited;
    if (code !== 0) throw new Error(`redis-cli --cluster create failed (${code}):\n${create.output(30)}`);
    for (const n of started) {
      const admin = new Redis({ host: '127.0.0.1', port: n.port, maxRetriesPerRequest: 1 });
      admin.on('error', () => undefined); // a node stopping is reported by its process
      admins.push(admin);
    }
    // Every node must see all slots served before a client's CLUSTER SLOTS is complete.
    await waitFor(
      'cluster_state:ok on every node',
      async () => {
        const infos = await Promise.all(admins.map((a) => a.cluster('INFO')));
        return infos.every((i) => /cluster_state:ok/.test(i) && new RegExp(`cluster_known_nodes:${count}\\b`).test(i)) ? true : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 50, retryErrors: true, describe: () => started.map((n) => n.process.output(5)).join('\n') },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url: `redis-cluster://${started.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    nodes: started,
    async flushAll() {
      await Promise.all(admins.map((a) => a.flushall()));
    },
    async masterOf(key: string) {
      const slot = Number(await admins[0]!.cluster('KEYSLOT', key));
      for (const [i, a] of admins.entries()) if (await ownsSlot(a, slot)) return started[i]!.port;
      throw new Error(`no master serves slot ${slot}`);
    },
    stop,
  };
}

async function ownsSlot(admin: Redis, slot: number): Promise<boolean> {
  const myself = (await admin.cluster('MYID')) as string;
  const slots = await admin.cluster('SLOTS');
  return slots.some(([from, to, primary]) => slot >= from && slot <= to && primary?.[2] === myself);
}
