import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess, type ManagedProcess } from './child.ts';
import { fourLetterWord, freePort, waitUntil } from './ports.ts';

/** Debian's ZooKeeper (package `zookeeper`); the jar's manifest pulls in its dependencies. */
export const ZOOKEEPER_JAR = '/usr/share/java/zookeeper.jar';
const SLF4J_NOP = '/usr/share/java/slf4j-nop.jar';

export function isZooKeeperInstalled(): boolean {
  return existsSync(ZOOKEEPER_JAR);
}

export interface ZooKeeperNode {
  readonly id: number;
  readonly clientPort: number;
  process: ManagedProcess;
  /** 'leader' | 'follower' | 'standalone' | '' (not answering) */
  mode(): Promise<string>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  restart(): Promise<void>;
}

export interface ZooKeeperInstance {
  /** Connect string for clients: host:port[,host:port…] */
  readonly connect: string;
  readonly nodes: readonly ZooKeeperNode[];
  leader(): Promise<ZooKeeperNode | undefined>;
  stop(): Promise<void>;
}

export interface ZooKeeperOptions {
  /** 1 = standalone, 3 = ensemble */
  nodes?: 1 | 3;
  /** ms; session timeouts are clamped to [2, 20] ticks, so a short tick allows fast expiry in tests */
  tickTime?: number;
  java?: string;
}

/** Starts ZooKeeper on 127.0.0.1 with plain `java` (no service scripts), waits for a quorum. */
export async function startZooKeeper(options: ZooKeeperOptions = {}): Promise<ZooKeeperInstance> {
  if (!isZooKeeperInstalled()) throw new Error(`ZooKeeper is not installed (${ZOOKEEPER_JAR} missing); run scripts/ensure-system-deps.sh`);
  const count = options.nodes ?? 1;
  const tickTime = options.tickTime ?? 500;
  const dir = await mkdtemp(join(tmpdir(), 'cim-zk-'));
  const ports = await Promise.all(Array.from({ length: count }, async () => ({ client: await freePort(), quorum: await freePort(), election: await freePort() })));
  const classpath = [ZOOKEEPER_JAR, ...(existsSync(SLF4J_NOP) ? [SLF4J_NOP] : [])].join(':');

  const nodes: ZooKeeperNode[] = [];
  for (let i = 0; i < count; i++) {
    const id = i + 1;
    const dataDir = join(dir, `zk${id}`);
    await mkdir(dataDir, { recursive: true });
    const lines = [
      `tickTime=${tickTime}`,
      'initLimit=20',
      'syncLimit=10',
      `dataDir=${dataDir}`,
      `clientPort=${ports[i]!.client}`,
      'clientPortAddress=127.0.0.1',
      'admin.enableServer=false',
      '4lw.commands.whitelist=*',
      'maxClientCnxns=0',
      'minSessionTimeout=' + tickTime * 2,
    ];
    if (count > 1) {
      await writeFile(join(dataDir, 'myid'), `${id}\n`);
      ports.forEach((p, j) => lines.push(`server.${j + 1}=127.0.0.1:${p.quorum}:${p.election}`));
    }
    const cfg = join(dir, `zk${id}.cfg`);
    await writeFile(cfg, lines.join('\n') + '\n');
    const launch = () =>
      startProcess(`zookeeper-${id}`, options.java ?? 'java', ['-Xms16m', '-Xmx96m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-cp', classpath, 'org.apache.zookeeper.server.quorum.QuorumPeerMain', cfg]);
    const clientPort = ports[i]!.client;
    const node: ZooKeeperNode = {
      id,
      clientPort,
      process: launch(),
      async mode() {
        const reply = await fourLetterWord(clientPort, 'srvr');
        return /^Mode: (\w+)/m.exec(reply)?.[1] ?? '';
      },
      async kill(signal: NodeJS.Signals = 'SIGKILL') {
        await node.process.stop(signal, 2000);
      },
      async restart() {
        await node.process.stop('SIGKILL');
        node.process = launch();
      },
    };
    nodes.push(node);
  }

  const stopAll = async () => {
    await Promise.all(nodes.map((n) => n.process.stop('SIGKILL')));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(
      count === 1 ? 'ZooKeeper to serve' : 'a ZooKeeper quorum (1 leader, 2 followers)',
      async () => {
        for (const n of nodes) if (n.process.child.exitCode !== null) throw new Error(`ZooKeeper ${n.id} exited: ${n.process.output()}`);
        const modes = (await Promise.all(nodes.map((n) => n.mode()))).sort().join(',');
        return (count === 1 ? modes === 'standalone' : modes === 'follower,follower,leader') ? true : undefined;
      },
      60_000,
      100,
    );
  } catch (err) {
    await stopAll();
    throw err;
  }

  return {
    connect: nodes.map((n) => `127.0.0.1:${n.clientPort}`).join(','),
    nodes,
    async leader() {
      for (const n of nodes) if ((await n.mode()) === 'leader') return n;
      return undefined;
    },
    stop: stopAll,
  };
}
