/**
 * Leader election on a coordination.k8s.io/v1 Lease, after client-go's leaderelection:
 *  - a candidate takes the Lease when it is free (no holder) or expired; expiry is judged by the *local* time at
 *    which we last saw the record change, never by comparing clocks with the holder;
 *  - every write carries the resourceVersion it read, so of two racing candidates one gets 409 and loses;
 *  - the leader renews every retryPeriod and gives up (onLost) if no renewal succeeded for renewDeadline;
 *  - release() empties holderIdentity so a standby takes over at once instead of waiting for expiry.
 * Timestamps are MicroTime: V1MicroTime serialises with 6 fractional digits (client-node #828).
 */
import { CoordinationV1Api, KubeConfig, V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../../services/common/src/log.ts';
import { KubeApiError, toKubeApiError } from './kube-api.ts';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: Logger;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

export class LeaderElector {
  readonly #api: CoordinationV1Api;
  readonly #o: LeaderElectionOptions;
  #isLeader = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #observedKey = '';
  #observedAt = 0;
  #lastRenewAt = 0;
  #wake: (() => void) | undefined;

  constructor(kc: KubeConfig, options: LeaderElectionOptions) {
    this.#api = kc.makeApiClient(CoordinationV1Api);
    this.#o = options;
  }

  get isLeader(): boolean {
    return this.#isLeader;
  }

  #loop: Promise<void> | undefined;

  /** Runs the acquire/renew loop until stop(). */
  run(): Promise<void> {
    this.#loop ??= this.#run();
    return this.#loop;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const ok = await this.#tryAcquireOrRenew().catch((err: unknown) => {
        this.#o.log.warn({ err }, 'lease update failed');
        return false;
      });
      const now = Date.now();
      if (ok) {
        this.#lastRenewAt = now;
        if (!this.#isLeader) {
          this.#isLeader = true;
          // Acquired while stopping: hold it only long enough for stop() to release it.
          if (!this.#stopped) {
            this.#o.log.info({ lease: this.#o.name, identity: this.#o.identity }, 'became leader');
            this.#o.onStartedLeading();
          }
        }
      } else if (this.#isLeader && now - this.#lastRenewAt >= this.#o.renewDeadlineMs) {
        this.#isLeader = false;
        this.#o.log.error({ lease: this.#o.name }, 'leader lease lost');
        this.#o.onStoppedLeading();
      }
      if (this.#stopped) break;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#timer = setTimeout(resolve, this.#o.retryPeriodMs);
      });
    }
  }

  /** Stops the loop; when leading, gives the Lease up so a standby takes over immediately. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#wake?.();
    // Let an in-flight renewal finish first, or it could land after the release and re-take the Lease.
    await this.#loop?.catch(() => {});
    if (!this.#isLeader) return;
    this.#isLeader = false;
    try {
      const lease = await this.#api.readNamespacedLease({ name: this.#o.name, namespace: this.#o.namespace });
      if (lease.spec?.holderIdentity !== this.#o.identity) return;
      const now = new V1MicroTime();
      lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now };
      await this.#api.replaceNamespacedLease({ name: this.#o.name, namespace: this.#o.namespace, body: lease });
      this.#o.log.info({ lease: this.#o.name }, 'leader lease released');
    } catch (err) {
      this.#o.log.warn({ err: toKubeApiError(err) }, 'lease not released; it will expire');
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.#o;
    const durationSeconds = Math.max(1, Math.round(this.#o.leaseDurationMs / 1000));
    const now = new V1MicroTime();
    let lease: V1Lease;
    try {
      lease = await this.#api.readNamespacedLease({ name, namespace });
    } catch (e) {
      const err = toKubeApiError(e);
      if (!(err instanceof KubeApiError && err.code === 404)) throw err;
      await this.#api.createNamespacedLease({
        namespace,
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: 0,
          },
        },
      });
      return true;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const key = `${holder}|${String(spec.renewTime?.valueOf() ?? '')}|${lease.metadata?.resourceVersion ?? ''}`;
    if (key !== this.#observedKey) {
      this.#observedKey = key;
      this.#observedAt = Date.now();
    }
    const heldByOther = holder !== '' && holder !== identity;
    const expired = this.#observedAt + (spec.leaseDurationSeconds ?? durationSeconds) * 1000 < Date.now();
    if (heldByOther && !expired) return false;

    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      renewTime: now,
      ...(holder !== identity
        ? { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }
        : {}),
    };
    try {
      await this.#api.replaceNamespacedLease({ name, namespace, body: lease });
    } catch (e) {
      const err = toKubeApiError(e);
      if (err instanceof KubeApiError && err.code === 409) return false;
      throw err;
    }
    return true;
  }
}
