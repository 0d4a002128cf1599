/**
 * A private Sentinel setup from Debian's redis-server: one master, one replica and one sentinel (quorum 1),
 * all on 127.0.0.1 with free ports and temp dirs. Ready once the sentinel knows the replica and the replica's
 * link to the master is up, so a failover has somewhere to go.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startProcess, type ManagedProcess } from './child.ts';
import { freePort } from './ports.ts';
import { waitForPing } from './redis-server.ts';
import { waitFor } from './wait.ts';

export const SENTINEL_MASTER_NAME = 'cim';

export interface RedisSentinelNode {
  readonly port: number;
  readonly process: ManagedProcess;
}

export interface RedisSentinelInstance {
  /** `redis-sentinel://127.0.0.1:<sentinel port>/cim` (redis-client.ts) */
  readonly url: string;
  readonly sentinelPort: number;
  /** the two data nodes; which is the master changes with failovers */
  readonly data: readonly RedisSentinelNode[];
  /** The port of the master the sentinel names now. */
  masterPort(): Promise<number>;
  /** Resolves once the replica has every write the master has (equal replication offsets). */
  waitForReplica(): Promise<void>;
  /** Asks the sentinel to fail over now (SENTINEL FAILOVER); resolves once it names a master other than `fromPort`. */
  failover(fromPort: number): Promise<number>;
  stop(): Promise<void>;
}

export async function startRedisSentinel(o: { binary?: string } = {}): Promise<RedisSentinelInstance> {
  const bin = o.binary ?? 'redis-server';
  const dirs: string[] = [];
  const procs: ManagedProcess[] = [];
  const admins: Redis[] = [];
  const admin = (port: number) => {
    const a = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    a.on('error', () => undefined); // a node killed by a test is reported by its process
    admins.push(a);
    return a;
  };
  const stop = async () => {
    for (const a of admins) a.disconnect();
    await Promise.all(procs.map((p) => p.stop('SIGTERM')));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  };
  try {
    const [masterPort, replicaPort, sentinelPort] = [await freePort(), await freePort(), await freePort()];
    const dataNode = async (port: number, extra: string[]): Promise<RedisSentinelNode> => {
      const dir = await mkdtemp(join(tmpdir(), 'cim-redis-sentinel-'));
      dirs.push(dir);
      const proc = startProcess(`redis-${port}`, bin, [
        '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir,
        '--replica-announce-ip', '127.0.0.1', ...extra,
      ]);
      procs.push(proc);
      await waitForPing(port, () => proc);
      return { port, process: proc };
    };
    const master = await dataNode(masterPort, []);
    const replica = await dataNode(replicaPort, ['--replicaof', '127.0.0.1', String(masterPort)]);
    const sdir = await mkdtemp(join(tmpdir(), 'cim-sentinel-'));
    dirs.push(sdir);
    const conf = join(sdir, 'sentinel.conf'); // the sentinel rewrites its own config: it must be writable
    await writeFile(conf, [
      `port ${sentinelPort}`, 'bind 127.0.0.1', `dir ${sdir}`, 'sentinel announce-ip 127.0.0.1',
      `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} 1000`,
      `sentinel failover-timeout ${SENTINEL_MASTER_NAME} 10000`,
      `sentinel parallel-syncs ${SENTINEL_MASTER_NAME} 1`, '',
    ].join('\n'));
    const sentinelProc = startProcess('redis-sentinel', bin, [conf, '--sentinel']);
    procs.push(sentinelProc);
    await waitForPing(sentinelPort, () => sentinelProc);
    const sentinel = admin(sentinelPort);
    const masterOf = async () => Number(((await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_MASTER_NAME)) as [string, string] | null)?.[1] ?? 0);
    const data = [master, replica];
    const waitForReplica = async () => {
      const primary = await masterOf();
      const other = data.find((n) => n.port !== primary)!;
      const [p, r] = [admin(primary), admin(other.port)];
      try {
        await waitFor('the replica to catch up with the master', async () => {
          const [pi, ri] = [await p.info('replication'), await r.info('replication')];
          const field = (info: string, name: string) => new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1];
          const m = field(pi, 'master_repl_offset');
          return /master_link_status:up/.test(ri) && m !== undefined && field(ri, 'slave_repl_offset') === m ? true : undefined;
        }, { timeoutMs: 10_000, retryErrors: true });
      } finally {
        p.disconnect();
        r.disconnect();
      }
    };
    await waitFor('the sentinel to know the replica', async () => {
      const replicas = (await sentinel.call('SENTINEL', 'REPLICAS', SENTINEL_MASTER_NAME)) as string[][];
      return replicas.some((flat) => flat[flat.indexOf('port') + 1] === String(replicaPort) && flat[flat.indexOf('flags') + 1] === 'slave') ? true : undefined;
    }, { timeoutMs: 20_000, retryErrors: true, describe: () => sentinelProc.output(10) });
    await waitForReplica();
    return {
      url: `redis-sentinel://127.0.0.1:${sentinelPort}/${SENTINEL_MASTER_NAME}`,
      sentinelPort,
      data,
      masterPort: masterOf,
      waitForReplica,
      async failover(fromPort: number) {
        // INPROG / NOGOODSLAVE while the sentinel is still deciding: asked again until it names another master.
        return waitFor('the sentinel to promote the replica', async () => {
          const now = await masterOf();
          if (now !== fromPort && now !== 0) return now;
          await sentinel.call('SENTINEL', 'FAILOVER', SENTINEL_MASTER_NAME).catch(() => undefined);
          return undefined;
        }, { timeoutMs: 30_000, intervalMs: 200, retryErrors: true, describe: () => sentinelProc.output(20) });
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
