/**
 * A real Kubernetes control plane on 127.0.0.1, no fakes: etcd, kube-apiserver, kube-controller-manager (garbage
 * collection, StatefulSet/Deployment/ReplicaSet controllers), kube-scheduler, and kwok turning three fake nodes and
 * the pods scheduled on them Running and Ready. Binaries come from scripts/ensure-k8s-tools.sh (built once, cached
 * outside the repository). Authentication is static tokens: an admin (system:masters) and the operator's identity,
 * which is the ServiceAccount user of the Helm chart, so the chart's own bindings apply to it unchanged.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startProcess, waitFor, type Proc } from './processes.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const OPERATOR_NAMESPACE = 'cim-system';
export const OPERATOR_SERVICE_ACCOUNT = 'cim-operator';
export const OPERATOR_USER = `system:serviceaccount:${OPERATOR_NAMESPACE}:${OPERATOR_SERVICE_ACCOUNT}`;
export const FAKE_NODES = ['kwok-node-0', 'kwok-node-1', 'kwok-node-2'];

export interface ControlPlaneInfo {
  server: string;
  binDir: string;
  workDir: string;
  adminKubeconfig: string;
  operatorKubeconfig: string;
}

export interface ControlPlane extends ControlPlaneInfo {
  procs: Proc[];
  stop(): Promise<void>;
}

/** Runs scripts/ensure-k8s-tools.sh (a no-op when cached) and returns the bin directory. */
export function ensureK8sTools(): string {
  const out = execFileSync(join(REPO_ROOT, 'scripts/ensure-k8s-tools.sh'), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 60 * 60_000,
  });
  const dir = out.trim().split('\n').pop() ?? '';
  if (!existsSync(join(dir, 'kube-apiserver'))) throw new Error(`ensure-k8s-tools.sh printed no bin dir: ${out}`);
  return dir;
}

/** A token kubeconfig for `server` (the API server's certificate is self-signed: not verified). */
export function kubeconfig(server: string, user: string, token: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: e2e',
    '  cluster:',
    `    server: ${server}`,
    '    insecure-skip-tls-verify: true',
    'users:',
    `- name: ${JSON.stringify(user)}`,
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: e2e',
    '  context:',
    '    cluster: e2e',
    `    user: ${JSON.stringify(user)}`,
    'current-context: e2e',
    '',
  ].join('\n');
}

function httpsGet(url: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = request(
      url,
      { rejectUnauthorized: false, headers: token ? { authorization: `Bearer ${token}` } : {}, timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/**
 * `beforeControllers` runs once the API server is up and before kube-controller-manager starts: CRDs installed
 * there are in the garbage collector's first discovery (otherwise it learns of them only at its 30 s resync).
 */
export async function startControlPlane(
  binDir: string,
  beforeControllers: (adminKubeconfig: string) => Promise<void> = async () => {},
  // test/e2e-node (a real kubelet): later flags override earlier ones; extra `token,user,uid,"groups"` lines.
  extra: { apiserverArgs?: string[]; controllerManagerArgs?: string[]; tokenLines?: string[] } = {},
): Promise<ControlPlane> {
  const workDir = mkdtempSync(join(tmpdir(), 'cim-e2e-'));
  // etcd fsyncs on every write; tmpfs keeps the apiserver fast on slow disks.
  const etcdData = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/cim-e2e-etcd-') : join(workDir, 'etcd');
  const logDir = join(workDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const procs: Proc[] = [];
  const stop = async () => {
    for (const p of [...procs].reverse()) await p.stop(5000);
    rmSync(etcdData, { recursive: true, force: true });
    if (!process.env['CIM_E2E_KEEP']) rmSync(workDir, { recursive: true, force: true });
  };
  const describeAll = () => procs.map((p) => `--- ${p.name} (${p.logFile})\n${p.tail(15)}`).join('\n');

  try {
    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    procs.push(
      startProcess(
        'etcd',
        join(binDir, 'etcd'),
        [
          '--name=e2e',
          `--data-dir=${etcdData}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
          `--initial-cluster=e2e=http://127.0.0.1:${peerPort}`,
        ],
        { logDir },
      ),
    );

    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const saKey = join(workDir, 'sa.key');
    writeFileSync(saKey, privateKey.export({ type: 'pkcs1', format: 'pem' }));
    const adminToken = randomBytes(16).toString('hex');
    const operatorToken = randomBytes(16).toString('hex');
    const tokens = join(workDir, 'tokens.csv');
    writeFileSync(
      tokens,
      [
        `${adminToken},admin,admin-uid,"system:masters"`,
        `${operatorToken},${OPERATOR_USER},operator-uid,"system:serviceaccounts,system:serviceaccounts:${OPERATOR_NAMESPACE}"`,
        ...(extra.tokenLines ?? []),
        '',
      ].join('\n'),
    );
    const certDir = join(workDir, 'certs');
    const server = `https://127.0.0.1:${apiPort}`;
    procs.push(
      startProcess(
        'kube-apiserver',
        join(binDir, 'kube-apiserver'),
        [
          `--etcd-servers=${etcdUrl}`,
          `--cert-dir=${certDir}`,
          `--secure-port=${apiPort}`,
          '--bind-address=127.0.0.1',
          '--advertise-address=127.0.0.1',
          '--service-cluster-ip-range=10.0.0.0/24',
          '--allow-privileged=true',
          '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
          `--service-account-key-file=${saKey}`,
          `--service-account-signing-key-file=${saKey}`,
          `--token-auth-file=${tokens}`,
          '--authorization-mode=RBAC',
          '--endpoint-reconciler-type=none',
          '--enable-priority-and-fairness=false',
          // Would taint new nodes not-ready; removing that taint is the node lifecycle controller's job, which is
          // off because fake nodes send no kubelet heartbeats.
          '--disable-admission-plugins=TaintNodesByCondition',
          ...(extra.apiserverArgs ?? []),
        ],
        { logDir },
      ),
    );
    await waitFor('kube-apiserver /readyz', async () => (await httpsGet(`${server}/readyz`, adminToken)).status === 200, {
      timeoutMs: 90_000,
      intervalMs: 250,
      describe: describeAll,
    });

    const adminKubeconfig = join(workDir, 'admin.kubeconfig');
    const operatorKubeconfig = join(workDir, 'operator.kubeconfig');
    writeFileSync(adminKubeconfig, kubeconfig(server, 'admin', adminToken));
    writeFileSync(operatorKubeconfig, kubeconfig(server, OPERATOR_USER, operatorToken));
    await beforeControllers(adminKubeconfig);

    procs.push(
      startProcess(
        'kube-controller-manager',
        join(binDir, 'kube-controller-manager'),
        [
          `--kubeconfig=${adminKubeconfig}`,
          '--secure-port=0',
          '--leader-elect=false',
          `--service-account-private-key-file=${saKey}`,
          `--root-ca-file=${join(certDir, 'apiserver.crt')}`,
          // No kubelet heartbeats on fake nodes: the node lifecycle controller would taint them and evict pods.
          '--controllers=*,-node-lifecycle-controller,-node-ipam-controller,-service-lb-controller,-node-route-controller',
          '--concurrent-statefulset-syncs=5',
          '--concurrent-gc-syncs=10',
          ...(extra.controllerManagerArgs ?? []),
        ],
        { logDir },
      ),
      startProcess(
        'kube-scheduler',
        join(binDir, 'kube-scheduler'),
        [`--kubeconfig=${adminKubeconfig}`, '--leader-elect=false', '--secure-port=0'],
        { logDir },
      ),
      startProcess(
        'kwok',
        join(binDir, 'kwok'),
        [
          `--kubeconfig=${adminKubeconfig}`,
          '--manage-all-nodes=false',
          '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
          `--config=${join(REPO_ROOT, 'test/e2e/fixtures/kwok-stages.yaml')}`,
          '--cidr=10.244.0.1/16',
        ],
        { logDir },
      ),
    );
    let stopping = false;
    for (const p of procs) {
      void p.exited.then((code) => {
        if (code !== null && code !== 0 && code !== -1 && !stopping) {
          process.stderr.write(`e2e control plane: ${p.name} exited with ${code}\n${p.tail()}\n`);
        }
      });
    }
    const info: ControlPlane = {
      server,
      binDir,
      workDir,
      adminKubeconfig,
      operatorKubeconfig,
      procs,
      stop: async () => {
        stopping = true;
        await stop();
      },
    };
    return info;
  } catch (err) {
    process.stderr.write(`e2e control plane failed to start:\n${describeAll()}\n`);
    await stop();
    throw err;
  }
}
