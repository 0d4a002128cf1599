/**
 * List+watch caches that survive an unreliable watch (client-node #364, #596, #958, #1496, #494):
 *  - client-node's ListWatch relists by itself on 410 Gone and reconnects after its 30 s inactivity timeout;
 *  - on any other error it stops, so we restart it (stop first, then start) after a capped exponential backoff;
 *  - every `relistPeriodMs` a fresh ListWatch replaces the old one: a full relist that also catches deletions a
 *    half-open connection may have swallowed;
 *  - a silence watchdog: the watch reconnects at least every 30 s (client-node's inactivity timeout), so when
 *    neither an event nor a (re)connect was seen for `silenceMs`, the watch is presumed wedged and replaced.
 * Handlers only enqueue keys; the reconciler reads the cache, never the event payload.
 */
import { KubeConfig, KubernetesObjectApi, makeInformer, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../../services/common/src/log.ts';

type ListWatch<T extends KubernetesObject> = ReturnType<typeof makeInformer<T>>;

export interface ResourceDef {
  /** Short stable name for logs and metric labels ("statefulsets"). */
  name: string;
  apiVersion: string;
  kind: string;
  /** URL path of the collection across namespaces, e.g. /apis/apps/v1/statefulsets. */
  path: string;
  labelSelector?: string;
}

export type InformerEvent = 'add' | 'update' | 'delete';

export interface ResilientInformerOptions {
  relistPeriodMs: number;
  restartBaseMs?: number;
  restartMaxMs?: number;
  log: Logger;
  /** Namespace to watch; undefined watches all namespaces. */
  namespace?: string;
  onEvent: (type: InformerEvent, obj: KubernetesObject) => void;
  onRestart?: (reason: 'error' | 'relist' | 'silence') => void;
  /** Replace the watch when nothing was heard for this long (default 3 minutes). */
  silenceMs?: number;
}

export class ResilientInformer<T extends KubernetesObject = KubernetesObject> {
  readonly def: ResourceDef;
  readonly #kc: KubeConfig;
  readonly #objects: KubernetesObjectApi;
  readonly #opts: ResilientInformerOptions;
  #current: ListWatch<T> | undefined;
  #synced = false;
  #stopped = true;
  #restartDelayMs = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #relistTimer: NodeJS.Timeout | undefined;
  #generation = 0;
  #lastHeardAt = Date.now();
  #watchdogTimer: NodeJS.Timeout | undefined;

  constructor(kc: KubeConfig, def: ResourceDef, opts: ResilientInformerOptions) {
    this.#kc = kc;
    this.def = def;
    this.#opts = opts;
    this.#objects = KubernetesObjectApi.makeApiClient(kc);
  }

  get isSynced(): boolean {
    return this.#synced;
  }

  get(namespace: string, name: string): T | undefined {
    return this.#current?.get(name, namespace);
  }

  list(namespace?: string): T[] {
    return [...(this.#current?.list(namespace) ?? [])];
  }

  /** Lists, then watches; resolves once the first list is in the cache. */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.#replace();
    if (this.#stopped) return;
    this.#relistTimer = setInterval(() => {
      this.#opts.onRestart?.('relist');
      this.#replace().catch((err: unknown) => this.#onError(err));
    }, this.#opts.relistPeriodMs);
    this.#relistTimer.unref();
    const silenceMs = this.#opts.silenceMs ?? 180_000;
    this.#watchdogTimer = setInterval(() => {
      if (Date.now() - this.#lastHeardAt < silenceMs) return;
      this.#opts.log.warn({ resource: this.def.name, silentForMs: Date.now() - this.#lastHeardAt }, 'watch silent; relisting');
      this.#lastHeardAt = Date.now();
      this.#opts.onRestart?.('silence');
      this.#replace().catch((err: unknown) => this.#onError(err));
    }, Math.max(1000, Math.floor(silenceMs / 4)));
    this.#watchdogTimer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#relistTimer);
    clearInterval(this.#watchdogTimer);
    clearTimeout(this.#restartTimer);
    const lw = this.#current;
    this.#generation++;
    await lw?.stop();
  }

  #path(): string {
    const ns = this.#opts.namespace;
    if (!ns) return this.def.path;
    // /apis/apps/v1/statefulsets -> /apis/apps/v1/namespaces/<ns>/statefulsets
    const i = this.def.path.lastIndexOf('/');
    return `${this.def.path.slice(0, i)}/namespaces/${ns}${this.def.path.slice(i)}`;
  }

  async #replace(): Promise<void> {
    const generation = ++this.#generation;
    const { apiVersion, kind, labelSelector } = this.def;
    let listed = false;
    const lw = makeInformer<T>(
      this.#kc,
      this.#path(),
      async () => {
        const list = await this.#objects.list<T>(
          apiVersion, kind, this.#opts.namespace, undefined, undefined, undefined, undefined, labelSelector,
        );
        listed = true;
        return list;
      },
      labelSelector,
    );
    const live = () => generation === this.#generation;
    const heard = (type: InformerEvent) => (o: T) => {
      if (!live()) return;
      this.#lastHeardAt = Date.now();
      this.#opts.onEvent(type, o);
    };
    lw.on('add', heard('add'));
    lw.on('update', heard('update'));
    lw.on('delete', heard('delete'));
    lw.on('connect', () => {
      if (!live()) return;
      this.#lastHeardAt = Date.now();
      this.#restartDelayMs = 0;
    });
    lw.on('error', (err) => {
      if (live()) this.#onError(err);
    });
    await lw.start();
    // A failed list does not reject start(): it reports through 'error', which already scheduled a restart.
    if (!live() || this.#stopped || !listed) {
      await lw.stop();
      return;
    }
    const old = this.#current;
    this.#current = lw;
    this.#synced = true;
    await old?.stop();
  }

  #onError(err: unknown): void {
    if (this.#stopped) return;
    this.#restartDelayMs = Math.min(
      this.#restartDelayMs > 0 ? this.#restartDelayMs * 2 : (this.#opts.restartBaseMs ?? 500),
      this.#opts.restartMaxMs ?? 30_000,
    );
    this.#opts.log.warn({ err, resource: this.def.name, retryInMs: this.#restartDelayMs }, 'watch failed; restarting');
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      if (this.#stopped) return;
      this.#opts.onRestart?.('error');
      this.#replace().catch((e: unknown) => this.#onError(e));
    }, this.#restartDelayMs);
    this.#restartTimer.unref();
  }
}
