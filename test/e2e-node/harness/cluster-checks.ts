/**
 * What the journey asks of a CimCluster on the real node, answered the way an operator of the system would: kubectl
 * for objects and pods, `kubectl exec` into the pods for ZooKeeper's `srvr`, redis-cli and cim-server's /metrics
 * (traffic that stays inside the pod's own network namespace).
 */
import { waitFor } from '../../e2e/harness/processes.ts';
import type { Cli } from './commands.ts';

export interface PodInfo {
  name: string;
  phase: string;
  ready: boolean;
  image: string;
  uid: string;
  deleting: boolean;
  restarts: number;
}

export async function pods(cli: Cli, namespace: string, selector: string): Promise<PodInfo[]> {
  const out = await cli.kubectl(['get', 'pods', '-n', namespace, '-l', selector, '-o', 'json']);
  const list = JSON.parse(out) as {
    items: {
      metadata: { name: string; uid: string; deletionTimestamp?: string };
      spec: { containers: { image: string }[] };
      status: { phase?: string; conditions?: { type: string; status: string }[]; containerStatuses?: { restartCount: number }[] };
    }[];
  };
  return list.items.map((p) => ({
    name: p.metadata.name,
    uid: p.metadata.uid,
    deleting: !!p.metadata.deletionTimestamp,
    phase: p.status.phase ?? '',
    ready: !!p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    image: p.spec.containers[0]?.image ?? '',
    restarts: (p.status.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0),
  }));
}

/**
 * When each pod of the namespace was created, scheduled, started and became ready, in seconds after the first
 * pod's creation, with restarts: what a slow "Ready" spent its time on.
 */
export async function podTimeline(cli: Cli, namespace: string): Promise<Record<string, string>> {
  const out = await cli.kubectl(['get', 'pods', '-n', namespace, '-o', 'json']);
  const list = JSON.parse(out) as {
    items: {
      metadata: { name: string; creationTimestamp: string };
      status: { conditions?: { type: string; lastTransitionTime?: string }[]; containerStatuses?: { restartCount: number; state?: { running?: { startedAt?: string } } }[] };
    }[];
  };
  const t0 = Math.min(...list.items.map((p) => Date.parse(p.metadata.creationTimestamp)));
  const at = (iso: string | undefined) => (iso ? ((Date.parse(iso) - t0) / 1000).toFixed(0) : '-');
  const timeline: Record<string, string> = {};
  for (const p of list.items) {
    const cond = (type: string) => p.status.conditions?.find((c) => c.type === type)?.lastTransitionTime;
    const c = p.status.containerStatuses?.[0];
    timeline[p.metadata.name] = `created ${at(p.metadata.creationTimestamp)} scheduled ${at(cond('PodScheduled'))} started ${at(c?.state?.running?.startedAt)} ready ${at(cond('Ready'))} restarts ${c?.restartCount ?? 0}`;
  }
  return timeline;
}

export const componentSelector = (instance: string, component: string) =>
  `app.kubernetes.io/instance=${instance},app.kubernetes.io/component=${component}`;

/** Waits until exactly `count` pods match, all Running and Ready (and not being deleted). */
export async function waitPodsReady(cli: Cli, namespace: string, selector: string, count: number, timeoutMs = 240_000, extra?: (p: PodInfo) => boolean): Promise<PodInfo[]> {
  let last: PodInfo[] = [];
  return waitFor(
    `${count} pods Ready (${selector})`,
    async () => {
      last = await pods(cli, namespace, selector);
      const ok = last.length === count && last.every((p) => p.phase === 'Running' && p.ready && !p.deleting && (extra ? extra(p) : true));
      return ok ? last : undefined;
    },
    { timeoutMs, intervalMs: 500, describe: () => JSON.stringify(last) },
  );
}

export interface ClusterStatus {
  phase?: string;
  conditions?: { type: string; status: string; reason?: string; message?: string }[];
  server?: { replicas: number; readyReplicas: number; external?: { pod: string; host: string; tcpPort: number; httpPort: number }[] };
  redis?: { ready: boolean; endpoint: string };
}

export async function cimStatus(cli: Cli, namespace: string, name: string): Promise<ClusterStatus> {
  const out = await cli.kubectl(['get', 'cimcluster', name, '-n', namespace, '-o', 'json']);
  return (JSON.parse(out) as { status?: ClusterStatus }).status ?? {};
}

export async function waitClusterReady(cli: Cli, namespace: string, name: string, timeoutMs = 300_000): Promise<ClusterStatus> {
  let last: ClusterStatus = {};
  return waitFor(
    `CimCluster ${namespace}/${name} Ready`,
    async () => {
      last = await cimStatus(cli, namespace, name);
      return last.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? last : undefined;
    },
    { timeoutMs, intervalMs: 1000, describe: () => JSON.stringify(last, null, 1) },
  );
}

/** ZooKeeper's `srvr` four-letter word from inside the member's pod (bash's /dev/tcp: the image has no nc). */
export async function zkMode(cli: Cli, namespace: string, pod: string): Promise<string> {
  const out = await cli.kubectl(
    ['exec', '-n', namespace, pod, '--', 'bash', '-c', 'exec 3<>/dev/tcp/127.0.0.1/2181; printf srvr >&3; timeout 3 cat <&3'],
    { allowFail: true, timeoutMs: 20_000 },
  );
  return /Mode: (\w+)/.exec(out)?.[1] ?? `unknown (${out.trim().split('\n').slice(-1)[0] ?? ''})`;
}

/** Sum of cim_server_connections on one cim-server pod (its /metrics, read from inside the pod). */
export async function serverConnections(cli: Cli, namespace: string, pod: string, httpPort = 8081): Promise<number> {
  const script = `fetch('http://127.0.0.1:${httpPort}/metrics').then(r=>r.text()).then(t=>{let n=0;for(const l of t.split('\\n'))if(l.startsWith('cim_server_connections{'))n+=Number(l.split(' ').pop());console.log(n)})`;
  const out = await cli.kubectl(['exec', '-n', namespace, pod, '--', 'node', '-e', script], { timeoutMs: 30_000 });
  return Number(out.trim());
}

export async function redisCli(cli: Cli, namespace: string, pod: string, args: string[]): Promise<string> {
  return (await cli.kubectl(['exec', '-n', namespace, pod, '--', 'redis-cli', ...args], { timeoutMs: 30_000 })).trim();
}

/** Names of the objects of the given kinds in a namespace (for "every child gone"). */
export async function remaining(cli: Cli, namespace: string, kinds: string): Promise<string[]> {
  const out = await cli.kubectl(['get', kinds, '-n', namespace, '-o', 'name', '--ignore-not-found'], { allowFail: true });
  return out.split('\n').filter((l) => l.trim() !== '');
}
