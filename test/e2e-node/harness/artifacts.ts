/**
 * On failure: component logs (control plane, containerd, kubelet, kube-proxy, the node's init, kubectl and chat
 * processes), every pod's logs (current and previous container), events and object listings, under
 * test-artifacts/e2e-node-<time>/ in the repository (ignored by git, never committed).
 */
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../e2e/harness/control-plane.ts';
import type { Cli } from './commands.ts';

export async function saveArtifacts(cli: Cli, logDirs: Record<string, string>, label: string): Promise<string> {
  const dir = join(REPO_ROOT, 'test-artifacts', `e2e-node-${new Date().toISOString().replace(/[:.]/g, '-')}-${label}`);
  mkdirSync(join(dir, 'pods'), { recursive: true });
  for (const [name, src] of Object.entries(logDirs)) {
    if (existsSync(src)) cpSync(src, join(dir, name), { recursive: true });
  }
  const save = async (file: string, args: string[]) => {
    const out = await cli.kubectl(args, { allowFail: true, timeoutMs: 30_000 }).catch((e: unknown) => String(e));
    writeFileSync(join(dir, file), out);
  };
  await save('events.txt', ['get', 'events', '-A', '--sort-by=.lastTimestamp', '-o', 'wide']);
  await save('objects.txt', ['get', 'all,cimclusters,pvc,pv,leases,endpointslices', '-A', '-o', 'wide']);
  await save('pods-describe.txt', ['describe', 'pods', '-A']);
  await save('cimclusters.yaml', ['get', 'cimclusters', '-A', '-o', 'yaml']);
  await save('nodes.yaml', ['get', 'nodes', '-o', 'yaml']);
  const pods = await cli
    .kubectl(['get', 'pods', '-A', '-o', 'jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}{"\\n"}{end}'], { allowFail: true })
    .catch(() => '');
  for (const ref of pods.split('\n').filter(Boolean)) {
    const [ns = '', name = ''] = ref.split('/');
    await save(`pods/${ns}_${name}.log`, ['logs', '-n', ns, name, '--all-containers', '--timestamps']);
    await save(`pods/${ns}_${name}.previous.log`, ['logs', '-n', ns, name, '--all-containers', '--previous', '--timestamps']);
  }
  return dir;
}
