/**
 * The operator's port to the API server, and its @kubernetes/client-node implementation. The reconciler sees only
 * this interface, so its tests can use an in-memory fake; the e2e tests exercise the real one.
 */
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubernetesObject,
  type V1Node,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type CimCluster, type CimClusterStatus } from './api/types.ts';
import { FIELD_MANAGER } from './builders/common.ts';

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
}

export interface KubeApi {
  /** Server-side apply under FIELD_MANAGER with force: the operator owns every field it sends. */
  apply(obj: KubernetesObject): Promise<void>;
  /** Creates the object; 'exists' when it is already there (the existing object is left untouched). */
  createIfAbsent(obj: KubernetesObject): Promise<'created' | 'exists'>;
  /** Whether the object exists (a GET by name). */
  exists(ref: ObjectRef): Promise<boolean>;
  /** Deletes the object; a missing object is not an error. */
  delete(ref: ObjectRef): Promise<void>;
  /** Merge-patches `.status` through the status subresource (null deletes a key: see statusMergePatch). */
  patchClusterStatus(cr: CimCluster, status: CimClusterStatus | Record<string, unknown>): Promise<void>;
  /** The Node (for its addresses); undefined when it does not exist. Needs only `get` on nodes. */
  readNode(name: string): Promise<V1Node | undefined>;
  recordEvent(cr: CimCluster, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

/** An API failure reduced to what decisions need: HTTP code, Status reason, message. */
export class KubeApiError extends Error {
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KubeApiError';
    this.code = code;
    this.reason = reason;
  }
  /** 4xx other than conflict/throttling/timeouts: retrying the same request cannot succeed. */
  get isPermanent(): boolean {
    return this.code >= 400 && this.code < 500 && ![408, 409, 429].includes(this.code);
  }
}

export function toKubeApiError(err: unknown): unknown {
  if (err instanceof ApiException) {
    let body: unknown = err.body;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body);
      } catch {
        /* not JSON; keep the text */
      }
    }
    const status = (body && typeof body === 'object' ? body : {}) as { reason?: string; message?: string };
    const message = status.message ?? (typeof body === 'string' ? body : `HTTP ${err.code}`);
    return new KubeApiError(err.code, status.reason ?? '', message, { cause: err });
  }
  return err;
}

async function translate<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw toKubeApiError(err);
  }
}

export function createKubeApi(kc: KubeConfig, reportingInstance: string): KubeApi {
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  return {
    async apply(obj) {
      await translate(
        objects.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply),
      );
    },
    async createIfAbsent(obj) {
      try {
        await translate(objects.create(obj, undefined, undefined, FIELD_MANAGER));
        return 'created';
      } catch (err) {
        if (err instanceof KubeApiError && err.code === 409) return 'exists';
        throw err;
      }
    },
    async exists(ref) {
      try {
        await translate(
          objects.read({ apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, namespace: ref.namespace } }),
        );
        return true;
      } catch (err) {
        if (err instanceof KubeApiError && err.code === 404) return false;
        throw err;
      }
    },
    async delete(ref) {
      try {
        await translate(
          objects.delete({ apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, namespace: ref.namespace } },
            undefined, undefined, undefined, undefined, 'Background'),
        );
      } catch (err) {
        if (err instanceof KubeApiError && err.code === 404) return;
        throw err;
      }
    },
    async patchClusterStatus(cr, status) {
      await translate(
        custom.patchNamespacedCustomObjectStatus(
          { group: GROUP, version: VERSION, plural: PLURAL, namespace: cr.metadata.namespace, name: cr.metadata.name, body: { status } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        ),
      );
    },
    async readNode(name) {
      try {
        return await translate(core.readNode({ name }));
      } catch (err) {
        if (err instanceof KubeApiError && err.code === 404) return undefined;
        throw err;
      }
    },
    async recordEvent(cr, type, reason, message) {
      const now = new Date();
      await translate(
        core.createNamespacedEvent({
          namespace: cr.metadata.namespace,
          body: {
            metadata: { generateName: `${cr.metadata.name}.`, namespace: cr.metadata.namespace },
            involvedObject: {
              apiVersion: cr.apiVersion,
              kind: cr.kind,
              name: cr.metadata.name,
              namespace: cr.metadata.namespace,
              ...(cr.metadata.uid ? { uid: cr.metadata.uid } : {}),
              ...(cr.metadata.resourceVersion ? { resourceVersion: cr.metadata.resourceVersion } : {}),
            },
            type,
            reason,
            message: message.slice(0, 1024),
            source: { component: FIELD_MANAGER },
            reportingComponent: FIELD_MANAGER,
            reportingInstance,
            firstTimestamp: now,
            lastTimestamp: now,
            count: 1,
          },
        }),
      );
    },
  };
}
