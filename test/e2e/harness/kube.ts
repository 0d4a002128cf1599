/** API clients and small helpers the e2e tests share. */
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  loadAllYaml,
  setHeaderOptions,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type CimCluster, type CimClusterSpecInput } from '../../../operator/src/api/types.ts';

export interface Clients {
  kc: KubeConfig;
  objects: KubernetesObjectApi;
  custom: CustomObjectsApi;
  core: CoreV1Api;
  apps: AppsV1Api;
  coordination: CoordinationV1Api;
}

export function clientsFor(kubeconfigPath: string): Clients {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return {
    kc,
    objects: KubernetesObjectApi.makeApiClient(kc),
    custom: kc.makeApiClient(CustomObjectsApi),
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
  };
}

export async function applyAs(c: Clients, obj: KubernetesObject, dryRun = false): Promise<KubernetesObject> {
  return c.objects.patch(obj, undefined, dryRun ? 'All' : undefined, 'e2e-admin', true, PatchStrategy.ServerSideApply);
}

export function parseYamlDocs(text: string): KubernetesObject[] {
  return (loadAllYaml(text) as (KubernetesObject | null)[]).filter((d): d is KubernetesObject => !!d && !!d.kind);
}

export async function createNamespace(c: Clients, name: string): Promise<void> {
  await c.core.createNamespace({ body: { metadata: { name } } });
}

/**
 * Removes a test file's namespace. Its CimClusters are deleted first and awaited (they have no finalizers, so this is
 * quick), so the next file's operator never reconciles leftovers; the namespace itself then terminates in the
 * background (the namespace controller waits out pod grace periods, which would cost seconds per file).
 */
export async function deleteTestNamespace(c: Clients, name: string, timeoutMs = 60_000): Promise<void> {
  const list = () => c.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: name });
  await c.custom.deleteCollectionNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: name });
  const deadline = Date.now() + timeoutMs;
  while (((await list()) as { items: unknown[] }).items.length > 0) {
    if (Date.now() > deadline) throw new Error(`CimClusters in ${name} still present after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await c.core.deleteNamespace({ name }).catch((err: unknown) => {
    if (!isNotFound(err)) throw err;
  });
}

export function clusterManifest(namespace: string, name: string, spec: CimClusterSpecInput | Record<string, unknown>) {
  return { apiVersion: `${GROUP}/${VERSION}`, kind: 'CimCluster', metadata: { name, namespace }, spec };
}

export async function createCluster(
  c: Clients,
  namespace: string,
  name: string,
  spec: CimClusterSpecInput | Record<string, unknown>,
): Promise<CimCluster> {
  return (await c.custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    namespace,
    body: clusterManifest(namespace, name, spec),
  })) as CimCluster;
}

export async function getCluster(c: Clients, namespace: string, name: string): Promise<CimCluster> {
  return (await c.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name })) as CimCluster;
}

export async function patchClusterSpec(c: Clients, namespace: string, name: string, spec: Record<string, unknown>): Promise<CimCluster> {
  return (await c.custom.patchNamespacedCustomObject(
    { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { spec } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  )) as CimCluster;
}

export function condition(cr: CimCluster | undefined, type: string) {
  return cr?.status?.conditions?.find((c) => c.type === type);
}

/** The HTTP status of a rejected client-node call, with the Status message. */
export async function rejection(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: number; body?: unknown };
    let body = e.body;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body);
      } catch {
        /* keep text */
      }
    }
    const message = body && typeof body === 'object' ? String((body as { message?: string }).message) : String(body);
    return { code: e.code ?? 0, message };
  }
  throw new Error('expected the API server to reject the request');
}

export function isNotFound(err: unknown): boolean {
  return (err as { code?: number }).code === 404;
}
