/**
 * The node's sandbox: its own network namespace joined to the root namespace by a veth pair, and one
 * `unshare --pid --mount` whose PID 1 is the node's init (test/e2e-node/harness/node-init.sh). Nothing of the node
 * leaks into the machine: mounts die with the mount namespace, processes with the PID namespace, iptables rules and
 * pod interfaces with the network namespace; teardown deletes the netns and rmdirs the node's cgroups.
 * Every sandbox records itself in /run/cim-e2e-node/<id>.json; a later run sweeps the ones whose owner is dead.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, waitFor, type Proc } from '../../e2e/harness/processes.ts';

const STATE_DIR = '/run/cim-e2e-node';
const CGROUP_FS = '/sys/fs/cgroup';

export interface SandboxRecord {
  id: string;
  ownerPid: number;
  unsharePid?: number;
  netns: string;
  vethHost: string;
  cgroup: string;
  workDir: string;
  /** Other directories of this run to remove with it (the control plane's). */
  extraDirs?: string[];
}

export interface Sandbox extends SandboxRecord {
  hostIp: string;
  nodeIp: string;
  /** Starts the init script as PID 1 of a new PID + mount namespace inside the netns. */
  start(initScript: string, args: string[], logDir: string): Proc;
  /** PID (in the root PID namespace) of the sandbox's init, once started. */
  initPid(): number;
  /** Runs a command inside the node's network (and mount) namespace; never touches the machine's. */
  exec(command: string, args: string[], opts?: { mountNs?: boolean; timeoutMs?: number }): string;
  stop(keepWorkDir?: boolean): Promise<void>;
  /** Records a directory the sweep removes when this run dies without its teardown. */
  track(dir: string): void;
}

function sh(cmd: string, args: string[], timeoutMs = 30_000): string {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
}

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Names what this machine lacks to run a node; empty when it can. */
export function missingNodePrerequisites(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (uid 0): containerd, network namespaces and cgroups need it');
  for (const bin of ['ip', 'unshare', 'nsenter', 'iptables', 'containerd', 'containerd-shim-runc-v2', 'runc', 'ctr', 'conntrack']) {
    try {
      sh('sh', ['-c', `command -v ${bin}`]);
    } catch {
      missing.push(`the ${bin} command (scripts/ensure-node-tools.sh installs it)`);
    }
  }
  for (const plugin of ['bridge', 'host-local', 'loopback', 'portmap']) {
    if (!existsSync(`/usr/lib/cni/${plugin}`)) missing.push(`CNI plugin /usr/lib/cni/${plugin} (Debian containernetworking-plugins)`);
  }
  const filesystems = existsSync('/proc/filesystems') ? readFileSync('/proc/filesystems', 'utf8') : '';
  if (!/\boverlay\b/.test(filesystems)) missing.push('overlayfs in the kernel (containerd snapshotter)');
  if (!/\btmpfs\b/.test(filesystems)) missing.push('tmpfs in the kernel');
  for (const ctrl of ['cpu', 'memory', 'pids']) {
    if (!existsSync(join(CGROUP_FS, ctrl)) && !existsSync(join(CGROUP_FS, 'cgroup.controllers'))) {
      missing.push(`the ${ctrl} cgroup controller under ${CGROUP_FS}`);
    }
  }
  if (!existsSync('/proc/self/ns/net') || !existsSync('/proc/self/ns/pid')) missing.push('network and PID namespaces');
  return missing;
}

/** Cgroup directories of every controller hierarchy (v1 hybrid or v2), for the node's cgroupRoot. */
function cgroupHierarchies(): string[] {
  if (existsSync(join(CGROUP_FS, 'cgroup.controllers'))) return [CGROUP_FS];
  // cpu and cpuacct are symlinks to cpu,cpuacct: real directories only.
  return readdirSync(CGROUP_FS, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(CGROUP_FS, e.name));
}

export function createCgroupRoot(name: string): void {
  for (const h of cgroupHierarchies()) {
    try {
      mkdirSync(join(h, name), { recursive: true });
    } catch {
      /* a hierarchy that refuses children (e.g. a read-only one) is not needed by the kubelet */
    }
  }
}

/** rmdir depth-first: cgroup directories can only be removed empty, leaves first. */
function removeCgroupTree(dir: string): boolean {
  if (!existsSync(dir)) return true;
  let ok = true;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) ok = removeCgroupTree(join(dir, entry.name)) && ok;
  }
  try {
    rmdirSync(dir);
  } catch {
    ok = false;
  }
  return ok;
}

async function removeCgroupRoot(name: string): Promise<void> {
  // A cgroup is busy for a moment after its last process died.
  await waitFor(`cgroups /${name} removed`, () => cgroupHierarchies().every((h) => removeCgroupTree(join(h, name))), {
    timeoutMs: 20_000,
    intervalMs: 200,
  }).catch((err: unknown) => process.stderr.write(`e2e-node: ${String(err)}\n`));
}

function killTree(rec: SandboxRecord, signal: NodeJS.Signals): void {
  if (rec.unsharePid && alive(rec.unsharePid)) {
    try {
      process.kill(rec.unsharePid, signal);
    } catch {
      /* gone */
    }
  }
}

/** Removes what a record names: processes (SIGKILL the unshare: --kill-child takes the PID namespace), netns, cgroups. */
async function destroy(rec: SandboxRecord, keepWorkDir: boolean): Promise<void> {
  killTree(rec, 'SIGKILL');
  if (rec.unsharePid) await waitFor('sandbox processes gone', () => !alive(rec.unsharePid), { timeoutMs: 15_000, intervalMs: 50 }).catch(() => undefined);
  try {
    sh('ip', ['netns', 'delete', rec.netns]);
  } catch {
    /* already gone */
  }
  try {
    sh('ip', ['link', 'delete', rec.vethHost]);
  } catch {
    /* went with the netns */
  }
  await removeCgroupRoot(rec.cgroup);
  if (!keepWorkDir) rmSync(rec.workDir, { recursive: true, force: true });
  // Only in a sweep: a live run's own teardown removes its control plane's directories itself.
  if (rec.ownerPid !== process.pid) for (const d of rec.extraDirs ?? []) rmSync(d, { recursive: true, force: true });
  rmSync(join(STATE_DIR, `${rec.id}.json`), { force: true });
}

/** Tears down sandboxes left by test runs that died (their owner process is gone). */
export async function sweepStaleSandboxes(): Promise<string[]> {
  if (!existsSync(STATE_DIR)) return [];
  const swept: string[] = [];
  for (const f of readdirSync(STATE_DIR).filter((n) => n.endsWith('.json'))) {
    let rec: SandboxRecord;
    try {
      rec = JSON.parse(readFileSync(join(STATE_DIR, f), 'utf8')) as SandboxRecord;
    } catch {
      unlinkSync(join(STATE_DIR, f));
      continue;
    }
    if (alive(rec.ownerPid)) continue;
    // A recycled PID must not be killed: only an unshare whose command line names this sandbox is ours.
    if (rec.unsharePid && alive(rec.unsharePid)) {
      const cmdline = readFileSync(`/proc/${rec.unsharePid}/cmdline`, 'utf8');
      if (!cmdline.includes(rec.id)) rec.unsharePid = undefined;
    }
    await destroy(rec, false);
    swept.push(rec.id);
  }
  return swept;
}

/** A /30 of 10.251.0.0/16 no interface of this machine uses: .1 is the root end, .2 the node. */
function pickSubnet(): number {
  const used = sh('ip', ['-4', '-o', 'addr', 'show']);
  for (let i = 1; i < 250; i++) {
    if (!used.includes(` 10.251.${i}.`)) return i;
  }
  throw new Error('no free 10.251.x.0/30 for the node sandbox');
}

export function createSandbox(workDir: string): Sandbox {
  const id = `n${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
  const subnet = pickSubnet();
  const rec: SandboxRecord = {
    id,
    ownerPid: process.pid,
    netns: `cim-${id}`,
    vethHost: `cimh-${id}`.slice(0, 15),
    cgroup: `cim-${id}`,
    workDir,
  };
  const hostIp = `10.251.${subnet}.1`;
  const nodeIp = `10.251.${subnet}.2`;
  const vethNode = `cimn-${id}`.slice(0, 15);
  mkdirSync(STATE_DIR, { recursive: true });
  const save = () => writeFileSync(join(STATE_DIR, `${id}.json`), JSON.stringify(rec));
  save();
  try {
    sh('ip', ['netns', 'add', rec.netns]);
    sh('ip', ['link', 'add', rec.vethHost, 'type', 'veth', 'peer', 'name', vethNode]);
    sh('ip', ['link', 'set', vethNode, 'netns', rec.netns]);
    sh('ip', ['addr', 'add', `${hostIp}/30`, 'dev', rec.vethHost]);
    sh('ip', ['link', 'set', rec.vethHost, 'up']);
    const inNs = (...a: string[]) => sh('ip', ['-n', rec.netns, ...a]);
    inNs('link', 'set', 'lo', 'up');
    inNs('link', 'set', vethNode, 'name', 'eth0');
    inNs('addr', 'add', `${nodeIp}/30`, 'dev', 'eth0');
    inNs('link', 'set', 'eth0', 'up');
    // No default route: nothing a pod sends can leave the machine; the root end is the only neighbour.
    createCgroupRoot(rec.cgroup);
  } catch (err) {
    void destroy(rec, true);
    throw err;
  }

  let proc: Proc | undefined;
  let init = 0;
  const sandbox: Sandbox = {
    ...rec,
    hostIp,
    nodeIp,
    start(initScript, args, logDir) {
      // nsenter --net (not `ip netns exec`, which remounts /sys and hides the cgroup v1 mounts).
      proc = startProcess(
        'node-init',
        'nsenter',
        [`--net=/run/netns/${rec.netns}`, 'unshare', '--pid', '--fork', '--kill-child', '--mount', '--propagation', 'private', '--mount-proc', 'bash', initScript, id, ...args],
        { logDir },
      );
      rec.unsharePid = proc.child.pid;
      save();
      return proc;
    },
    initPid() {
      if (init) return init;
      const pid = rec.unsharePid;
      if (!pid) throw new Error('sandbox not started');
      const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      if (children.length === 0) throw new Error('sandbox init not running');
      init = Number(children[0]);
      return init;
    },
    exec(command, args, opts = {}) {
      const ns = opts.mountNs === false ? ['-n'] : ['-m', '-n'];
      return sh('nsenter', ['-t', String(sandbox.initPid()), ...ns, '--', command, ...args], opts.timeoutMs ?? 60_000);
    },
    track(dir) {
      rec.extraDirs = [...(rec.extraDirs ?? []), dir];
      save();
    },
    async stop(keepWorkDir = false) {
      // SIGTERM the init (it stops kubelet, kube-proxy and containerd), then SIGKILL whatever is left.
      if (proc && proc.exitCode() === undefined) {
        try {
          process.kill(sandbox.initPid(), 'SIGTERM');
        } catch {
          /* not running */
        }
        const timer = setTimeout(() => killTree(rec, 'SIGKILL'), 15_000);
        await proc.exited;
        clearTimeout(timer);
      }
      await destroy(rec, keepWorkDir);
    },
  };
  return sandbox;
}
