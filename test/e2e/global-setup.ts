/**
 * Starts the control plane once for the whole e2e project and installs what `helm install` would: the CRD (from the
 * chart's crds/), the ServiceAccount and the exact RBAC the chart renders. The chart's Deployment and Service are
 * validated with a server-side dry run; the tests run the operator as local processes under the chart's identity.
 * If the tools cannot be built or the control plane cannot start, setup throws and every e2e test fails.
 */
import type { TestProject } from 'vitest/node';
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import { ensureK8sTools, startControlPlane, FAKE_NODES, OPERATOR_NAMESPACE, type ControlPlane } from './harness/control-plane.ts';
import { applyAs, clientsFor, parseYamlDocs } from './harness/kube.ts';
import { waitFor } from './harness/processes.ts';
import { CHART_DIR, helm, RELEASE } from './harness/tools.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    server: string;
    binDir: string;
    workDir: string;
    adminKubeconfig: string;
    operatorKubeconfig: string;
  }
}

let cp: ControlPlane | undefined;

export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const binDir = ensureK8sTools();
  const installChart = async (adminKubeconfig: string) => {
    const admin = clientsFor(adminKubeconfig);
    const rendered = await helm(binDir, ['template', RELEASE, CHART_DIR, '--namespace', OPERATOR_NAMESPACE, '--include-crds']);
    if (rendered.code !== 0) throw new Error(`helm template failed: ${rendered.stderr}`);
    const docs = parseYamlDocs(rendered.stdout);
    const crds = docs.filter((d) => d.kind === 'CustomResourceDefinition');
    await admin.core.createNamespace({ body: { metadata: { name: OPERATOR_NAMESPACE } } });
    for (const doc of crds) await applyAs(admin, doc);
    await waitFor('CRD established', async () => {
      for (const crd of crds) {
        const live = (await admin.objects.read({ apiVersion: crd.apiVersion ?? '', kind: crd.kind ?? '', metadata: { name: crd.metadata?.name ?? '' } })) as V1CustomResourceDefinition;
        if (!live.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return false;
      }
      return true;
    });
    for (const doc of docs.filter((d) => d.kind !== 'CustomResourceDefinition')) {
      const dryRun = doc.kind === 'Deployment' || doc.kind === 'Service';
      await applyAs(admin, { ...doc, metadata: { ...doc.metadata, namespace: doc.metadata?.namespace ?? OPERATOR_NAMESPACE } }, dryRun);
    }
  };
  cp = await startControlPlane(binDir, installChart);
  try {
    const admin = clientsFor(cp.adminKubeconfig);
    for (const [i, name] of FAKE_NODES.entries()) {
      // kwok's node stage turns these into status.addresses: every node an InternalIP, the first also an ExternalIP.
      const addresses: Record<string, string> = { 'e2e.cim.dev/internal-ip': `192.0.2.${10 + i}`, ...(i === 0 ? { 'e2e.cim.dev/external-ip': '203.0.113.10' } : {}) };
      await admin.core.createNode({
        body: {
          metadata: {
            name,
            annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0', ...addresses },
            labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok' },
          },
        },
      });
    }
    await waitFor(
      'fake nodes Ready',
      async () => {
        const nodes = await admin.core.listNode();
        return nodes.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length ===
          FAKE_NODES.length;
      },
      { timeoutMs: 60_000, describe: () => cp?.procs.map((p) => `--- ${p.name}\n${p.tail(10)}`).join('\n') ?? '' },
    );
  } catch (err) {
    await cp.stop();
    cp = undefined;
    throw err;
  }

  project.provide('server', cp.server);
  project.provide('binDir', cp.binDir);
  project.provide('workDir', cp.workDir);
  project.provide('adminKubeconfig', cp.adminKubeconfig);
  project.provide('operatorKubeconfig', cp.operatorKubeconfig);
  process.stderr.write(`e2e control plane ready at ${cp.server} in ${Date.now() - started} ms (logs: ${cp.workDir}/logs)\n`);

  return async () => {
    await cp?.stop();
    cp = undefined;
  };
}
