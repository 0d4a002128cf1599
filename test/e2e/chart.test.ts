/** The Helm chart: lint, template, schema, least-privilege RBAC, and a server-side dry run of every object. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubernetesObject, V1ClusterRole, V1Deployment } from '@kubernetes/client-node';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { OPERATOR_NAMESPACE, REPO_ROOT } from './harness/control-plane.ts';
import { parseYamlDocs } from './harness/kube.ts';
import { CHART_DIR, helm, kubectl, RELEASE } from './harness/tools.ts';

let docs: KubernetesObject[];
let rendered: string;

beforeAll(async () => {
  const r = await helm(inject('binDir'), ['template', RELEASE, CHART_DIR, '--namespace', OPERATOR_NAMESPACE, '--include-crds']);
  expect(r.stderr).toBe('');
  rendered = r.stdout;
  docs = parseYamlDocs(rendered);
});

describe('Helm chart', () => {
  it('passes helm lint --strict', async () => {
    const r = await helm(inject('binDir'), ['lint', '--strict', CHART_DIR]);
    expect(r.stdout + r.stderr).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(r.code).toBe(0);
  });

  it('renders the operator Deployment, ServiceAccount, RBAC, metrics Service and the CRD', () => {
    expect(docs.map((d) => `${d.kind}/${d.metadata?.name}`).sort()).toEqual([
      'ClusterRole/cim-operator',
      'ClusterRoleBinding/cim-operator',
      'CustomResourceDefinition/cimclusters.cim.dev',
      'Deployment/cim-operator',
      'Role/cim-operator-leader-election',
      'RoleBinding/cim-operator-leader-election',
      'Service/cim-operator-metrics',
      'ServiceAccount/cim-operator',
    ]);
    const dep = docs.find((d) => d.kind === 'Deployment') as V1Deployment;
    const c = dep.spec?.template.spec?.containers[0];
    expect(c?.args).toEqual(['operator']);
    expect(dep.spec?.replicas).toBe(2);
    expect(c?.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(c?.env?.find((e) => e.name === 'CIM_LEASE_NAME')?.value).toBe(RELEASE);
  });

  it('ships the CRD byte-identical to crds/', () => {
    expect(readFileSync(join(CHART_DIR, 'crds/cimcluster.yaml'), 'utf8')).toBe(readFileSync(join(REPO_ROOT, 'crds/cimcluster.yaml'), 'utf8'));
  });

  it('grants no list or watch on Secrets, no access to Pods and only get on Nodes', () => {
    const role = docs.find((d) => d.kind === 'ClusterRole') as V1ClusterRole;
    const secrets = role.rules?.filter((r) => r.resources?.includes('secrets')) ?? [];
    expect(secrets.flatMap((r) => r.verbs).sort()).toEqual(['create', 'get']);
    expect(role.rules?.some((r) => r.resources?.includes('pods') || r.resources?.includes('*') || r.verbs.includes('*'))).toBe(false);
    // External access: EndpointSlices name each server's node; that Node is read by name, never listed.
    expect(role.rules?.filter((r) => r.resources?.includes('nodes')).flatMap((r) => r.verbs)).toEqual(['get']);
    expect(role.rules?.filter((r) => r.resources?.includes('endpointslices')).flatMap((r) => r.verbs).sort()).toEqual(['get', 'list', 'watch']);
  });

  it('rejects values outside values.schema.json', async () => {
    const r = await helm(inject('binDir'), ['template', RELEASE, CHART_DIR, '--set', 'replicaCount=0']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('replicaCount');
  });

  it('renders objects the API server accepts (server-side dry run)', async () => {
    const r = await kubectl(
      inject('binDir'),
      inject('adminKubeconfig'),
      ['apply', '--dry-run=server', '--server-side', '--field-manager=e2e', '-n', OPERATOR_NAMESPACE, '-f', '-'],
      rendered,
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('deployment.apps/cim-operator serverside-applied (server dry run)');
  });
});
