/**
 * A real one-node Kubernetes cluster for the journey test: the e2e control plane (test/e2e/harness, imported, with
 * the node-related flags added) on 127.0.0.1, and a real node in a sandbox (sandbox.ts) running containerd, kubelet,
 * kube-proxy, the CNI bridge and CoreDNS, with the images of scripts/ensure-node-tools.sh imported. The node reaches
 * the API server through a TCP forwarder on the root end of its veth; tests reach the cluster through kubectl
 * (port-forward included) or by running a client inside the node's network namespace.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, startControlPlane, type ControlPlane } from '../../e2e/harness/control-plane.ts';
import { applyAs, clientsFor, parseYamlDocs } from '../../e2e/harness/kube.ts';
import { waitFor, WaitAborted } from '../../e2e/harness/processes.ts';
import { startTcpProxy, type TcpProxy } from '../../e2e/harness/tcp-proxy.ts';
import { coreDnsObjects, kubernetesEndpointSlice, localStorageObjects } from './addons.ts';
import { SERVICE_CIDR, writeNodeFiles } from './node-files.ts';
import { createSandbox, missingNodePrerequisites, sweepStaleSandboxes, type Sandbox } from './sandbox.ts';

export const PV_COUNT = 12;

export interface NodeTools {
  nodeCache: string;
  k8sBin: string;
}

/** Runs scripts/ensure-node-tools.sh (cached after the first run) and returns where the tools and images are. */
export function ensureNodeTools(): NodeTools {
  const out = execFileSync(join(REPO_ROOT, 'scripts/ensure-node-tools.sh'), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 90 * 60_000,
  });
  const nodeCache = out.trim().split('\n').pop() ?? '';
  const k8sBin = readFileSync(join(nodeCache, 'k8s-bin'), 'utf8').trim();
  if (!existsSync(join(nodeCache, 'bin', 'kubelet')) || !existsSync(join(k8sBin, 'kube-apiserver'))) {
    throw new Error(`ensure-node-tools.sh printed no usable directory: ${out}`);
  }
  return { nodeCache, k8sBin };
}

export interface NodeCluster {
  server: string;
  binDir: string;
  adminKubeconfig: string;
  nodeName: string;
  nodeIp: string;
  sandbox: Sandbox;
  controlPlane: ControlPlane;
  workDir: string;
  timings: Record<string, number>;
  stop(): Promise<void>;
}

/** Forwards hostIp:<port> (the root end of the veth) to the API server on 127.0.0.1. */
const startApiForwarder = (hostIp: string, apiPort: number): Promise<TcpProxy> => startTcpProxy(apiPort, hostIp);

export async function startNodeCluster(tools: NodeTools): Promise<NodeCluster> {
  const missing = missingNodePrerequisites();
  if (missing.length > 0) {
    throw new Error(`this machine cannot run a Kubernetes node; missing:\n  - ${missing.join('\n  - ')}`);
  }
  const swept = await sweepStaleSandboxes();
  if (swept.length > 0) process.stderr.write(`e2e-node: swept stale sandboxes ${swept.join(', ')}\n`);

  const timings: Record<string, number> = {};
  const t0 = Date.now();
  const workDir = mkdtempSync(join(tmpdir(), 'cim-e2e-node-'));
  mkdirSync(join(workDir, 'logs'));
  mkdirSync(join(workDir, 'cni'));
  const sandbox = createSandbox(workDir);
  const nodeName = `node-${sandbox.id}`;
  const kubeletToken = randomBytes(16).toString('hex');
  const kubeProxyToken = randomBytes(16).toString('hex');
  let cp: ControlPlane | undefined;
  let forwarder: { port: number; close(): Promise<void> } | undefined;
  const stop = async () => {
    await sandbox.stop(!!process.env['CIM_E2E_KEEP']);
    await forwarder?.close();
    await cp?.stop();
  };
  try {
    cp = await startControlPlane(
      tools.k8sBin,
      async (adminKubeconfig) => {
        // The CRD before the controllers: the garbage collector then knows CimClusters from its first discovery.
        const admin = clientsFor(adminKubeconfig);
        for (const doc of parseYamlDocs(readFileSync(join(REPO_ROOT, 'crds/cimcluster.yaml'), 'utf8'))) await applyAs(admin, doc);
      },
      {
        apiserverArgs: [
          `--service-cluster-ip-range=${SERVICE_CIDR}`,
          '--authorization-mode=Node',
          '--enable-admission-plugins=NodeRestriction',
          '--kubelet-preferred-address-types=InternalIP',
        ],
        tokenLines: [
          `${kubeletToken},system:node:${nodeName},kubelet-uid,"system:nodes"`,
          `${kubeProxyToken},system:kube-proxy,kube-proxy-uid,"system:node-proxiers"`,
        ],
      },
    );
    timings['controlPlaneMs'] = Date.now() - t0;
    sandbox.track(cp.workDir);
    const apiPort = Number(new URL(cp.server).port);
    forwarder = await startApiForwarder(sandbox.hostIp, apiPort);
    writeNodeFiles({
      workDir,
      nodeName,
      nodeIp: sandbox.nodeIp,
      cgroupRoot: sandbox.cgroup,
      apiServer: `https://${sandbox.hostIp}:${forwarder.port}`,
      kubeletToken,
      kubeProxyToken,
    });
    const admin = clientsFor(cp.adminKubeconfig);
    await applyAs(admin, kubernetesEndpointSlice(sandbox.hostIp, forwarder.port));

    const tNode = Date.now();
    const init = sandbox.start(join(REPO_ROOT, 'test/e2e-node/harness/node-init.sh'), [workDir, join(tools.nodeCache, 'images'), join(tools.nodeCache, 'bin'), String(PV_COUNT)], join(workDir, 'logs'));
    const logTail = (name: string, n = 20) => {
      try {
        return `--- ${name}\n${readFileSync(join(workDir, 'logs', name), 'utf8').split('\n').slice(-n).join('\n')}`;
      } catch {
        return '';
      }
    };
    const describe = () => ['node-init.log', 'containerd.log', 'images.log', 'kubelet.log', 'kube-proxy.log'].map((n) => logTail(n)).join('\n');
    const initAlive = () => {
      if (init.exitCode() !== undefined) throw new WaitAborted(`the node's init exited (${String(init.exitCode())})\n${describe()}`);
    };
    await waitFor('images imported into the node', () => (initAlive(), existsSync(join(workDir, 'images-imported'))), {
      timeoutMs: 10 * 60_000,
      intervalMs: 250,
      describe,
    });
    timings['imagesImportMs'] = Date.now() - tNode;
    await waitFor(
      `node ${nodeName} Ready`,
      async () => {
        initAlive();
        const node = await admin.core.readNode({ name: nodeName });
        return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      },
      { timeoutMs: 120_000, intervalMs: 250, describe },
    );
    timings['nodeReadyMs'] = Date.now() - tNode;

    for (const obj of [...localStorageObjects(PV_COUNT), ...coreDnsObjects()]) await applyAs(admin, obj);
    // Pods created before the token controller made the namespace's default ServiceAccount are refused.
    await waitFor('default ServiceAccount', async () => !!(await admin.core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' })), { timeoutMs: 60_000 });
    await waitFor(
      'CoreDNS Ready',
      async () => {
        initAlive();
        const d = await admin.apps.readNamespacedDeployment({ name: 'coredns', namespace: 'kube-system' });
        return (d.status?.readyReplicas ?? 0) >= 1;
      },
      { timeoutMs: 120_000, intervalMs: 250, describe },
    );
    timings['nodeUpMs'] = Date.now() - t0;
    return {
      server: cp.server,
      binDir: tools.k8sBin,
      adminKubeconfig: cp.adminKubeconfig,
      nodeName,
      nodeIp: sandbox.nodeIp,
      sandbox,
      controlPlane: cp,
      workDir,
      timings,
      stop,
    };
  } catch (err) {
    await stop().catch((e: unknown) => process.stderr.write(`e2e-node: teardown after a failed start: ${String(e)}\n`));
    throw err;
  }
}
