/** Commands sent in one event-loop iteration leave in one write system call, in order, with their own replies. */
import type { Socket } from 'node:net';
import { Redis, type Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster } from '../../services/common/src/infra/redis-cluster.ts';
import { startRedisServer, type RedisInstance } from '../../services/common/src/infra/redis-server.ts';
import { createRedisClient } from '../../services/common/src/redis-client.ts';

let redis: RedisInstance;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

const COMMANDS = 20;

/**
 * Sends COMMANDS SETs in one iteration, then COMMANDS GETs in the next; counts the writes of each batch on the
 * socket of `connection` (the client itself, or the cluster node serving the keys' slot).
 */
async function writesPerBatch(client: Redis | Cluster, connection: Redis = client as Redis, key = (i: number) => `cork:${i}`): Promise<{ sets: number; gets: number; values: (string | null)[] }> {
  await client.get(key(0)); // connected and ready (a cluster: its slots known)
  const socket = (connection as unknown as { stream: Socket }).stream;
  let writes = 0;
  const count = <F extends (...args: never[]) => unknown>(f: F) => function (this: Socket, ...args: Parameters<F>) {
    writes++;
    return f.apply(this, args);
  };
  socket._write = count(socket._write);
  socket._writev = count(socket._writev!);
  await Promise.all(Array.from({ length: COMMANDS }, (_, i) => client.set(key(i), `v${i}`)));
  const sets = writes;
  writes = 0;
  const values = await Promise.all(Array.from({ length: COMMANDS }, (_, i) => client.get(key(i))));
  return { sets, gets: writes, values };
}

describe('createRedisClient: commands corked per event-loop iteration', () => {
  it('writes one iteration\'s commands with one system call and answers each of them', async () => {
    const client = createRedisClient(redis.url) as Redis;
    try {
      const { sets, gets, values } = await writesPerBatch(client);
      expect([sets, gets]).toEqual([1, 1]);
      expect(values).toEqual(Array.from({ length: COMMANDS }, (_, i) => `v${i}`));
    } finally {
      client.disconnect();
    }
  });

  it('does the same on the connection of a Redis Cluster node', async () => {
    const cluster = await startRedisCluster();
    const client = createRedisClient(cluster.url) as Cluster;
    try {
      const key = (i: number) => `{cork}:${i}`; // one slot, one node
      await client.get(key(0));
      const port = await cluster.masterOf(key(0));
      const node = client.nodes('master').find((n) => n.options.port === port)!;
      const { sets, gets, values } = await writesPerBatch(client, node, key);
      expect([sets, gets]).toEqual([1, 1]);
      expect(values).toEqual(Array.from({ length: COMMANDS }, (_, i) => `v${i}`));
    } finally {
      client.disconnect();
      await cluster.stop();
    }
  });

  it('is needed: a plain ioredis client writes them one by one', async () => {
    const client = new Redis(redis.url);
    try {
      const { sets, gets } = await writesPerBatch(client);
      expect(sets + gets).toBeGreaterThan(2);
    } finally {
      client.disconnect();
    }
  });
});
