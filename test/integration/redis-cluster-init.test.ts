/**
 * The script of the operator's Job that forms a managed Redis Cluster (operator/src/builders/redis-cluster.ts), run
 * by `sh` against real cluster-mode redis-server nodes: it forms a cluster (names resolved, replicas placed), changes
 * nothing when run again, and never undoes a cluster formed in part.
 */
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { REDIS_CLUSTER_INIT_SCRIPT } from '../../operator/src/builders/redis-cluster.ts';
import { startRedisClusterNodes, type RedisClusterNodes } from '../../services/common/src/infra/redis-cluster.ts';
import { waitFor } from '../../services/common/src/infra/wait.ts';

let nodes: RedisClusterNodes | undefined;
const admins: Redis[] = [];
afterEach(async () => {
  for (const a of admins.splice(0)) a.disconnect();
  await nodes?.stop();
  nodes = undefined;
});

function runScript(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', REDIS_CLUSTER_INIT_SCRIPT], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

function admin(port: number): Redis {
  const a = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
  a.on('error', () => undefined);
  admins.push(a);
  return a;
}

const info = async (a: Redis) => Object.fromEntries(((await a.cluster('INFO')) as string).split('\r\n').filter(Boolean).map((l) => l.split(':') as [string, string]));

/** Roles from CLUSTER NODES of one node: how many masters (with slots) and replicas it sees. */
async function roles(a: Redis): Promise<{ masters: number; replicas: number }> {
  const lines = ((await a.cluster('NODES')) as string).trim().split('\n');
  return { masters: lines.filter((l) => / master /.test(l.replace(/myself,/, ''))).length, replicas: lines.filter((l) => /slave/.test(l)).length };
}

async function everyNodeOk(ports: readonly number[], count: number): Promise<void> {
  await waitFor('cluster_state:ok on every node', async () => {
    const all = await Promise.all(ports.map(async (p) => info(admin(p))));
    return all.every((i) => i['cluster_state'] === 'ok' && i['cluster_known_nodes'] === String(count) && i['cluster_slots_assigned'] === '16384') ? true : undefined;
  }, { timeoutMs: 20_000, intervalMs: 100, retryErrors: true });
}

describe('the Job script that forms a managed Redis Cluster', () => {
  it('forms 3 primaries from names, then a second run changes nothing', async () => {
    nodes = await startRedisClusterNodes(3);
    const ports = nodes.nodes.map((n) => n.port);
    // Names, as in a pod (resolved with getent), not addresses.
    const env = { REDIS_NODES: ports.map((p) => `localhost:${p}`).join(' '), REDIS_REPLICAS: '0' };
    const first = await runScript(env);
    expect(first.output).toContain('cluster formed: 3 nodes');
    expect(first.code).toBe(0);
    await everyNodeOk(ports, 3);
    expect(await roles(admin(ports[0]!))).toEqual({ masters: 3, replicas: 0 });
    const epoch = (await info(admin(ports[0]!)))['cluster_current_epoch'];

    const again = await runScript(env);
    expect([again.code, again.output.trim()]).toEqual([0, 'cluster already formed']);
    expect((await info(admin(ports[0]!)))['cluster_current_epoch']).toBe(epoch);
  }, 60_000);

  it('places one replica per primary with REDIS_REPLICAS=1', async () => {
    nodes = await startRedisClusterNodes(6);
    const ports = nodes.nodes.map((n) => n.port);
    const run = await runScript({ REDIS_NODES: ports.map((p) => `127.0.0.1:${p}`).join(' '), REDIS_REPLICAS: '1' });
    expect(run.code, run.output).toBe(0);
    await everyNodeOk(ports, 6);
    await waitFor('3 primaries and 3 replicas', async () => {
      const r = await roles(admin(ports[0]!));
      return r.masters === 3 && r.replicas === 3 ? true : undefined;
    }, { timeoutMs: 20_000, intervalMs: 100, retryErrors: true });
  }, 60_000);

  it('never undoes a cluster formed in part: it waits, fails, and leaves the nodes as they were', async () => {
    nodes = await startRedisClusterNodes(3);
    const ports = nodes.nodes.map((n) => n.port);
    const a = admin(ports[0]!);
    await a.cluster('MEET', '127.0.0.1', ports[1]!, nodes.busPorts[1]!); // a create that stopped after one MEET
    await waitFor('2 known nodes', async () => ((await info(a))['cluster_known_nodes'] === '2' ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });
    const run = await runScript({ REDIS_NODES: ports.map((p) => `127.0.0.1:${p}`).join(' '), REDIS_REPLICAS: '0', REDIS_WAIT_SECONDS: '2' });
    expect(run.code).toBe(1);
    expect(run.output).toContain('cluster formed before, state fail');
    expect(run.output).toContain('cluster state not ok');
    const after = await info(a);
    expect([after['cluster_known_nodes'], after['cluster_slots_assigned']]).toEqual(['2', '0']);
    expect((await info(admin(ports[2]!)))['cluster_known_nodes']).toBe('1');
  }, 60_000);
});
