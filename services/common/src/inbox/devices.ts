/**
 * Which devices a link unlinks (DeviceInboxStore.linkDevice): pure, shared by every backend so they
 * decide alike. Idle devices go first; then, while the user would hold more than maxDevices, the least
 * recently seen. A device in `keep` (a live session) or the one being linked is never unlinked; when
 * only such devices fill the quota, the link is refused.
 */
import { checkDevice, checkUserId, REFUSED_NO_DEVICE } from './entry.ts';
import { supportsDevices, type DeviceInboxStore, type DeviceLimits, type InboxStore, type LinkedDevice, type LinkResult } from './types.ts';

/** Attempts of an append or link whose snapshot of the linked devices keeps changing under it. */
export const SNAPSHOT_ATTEMPTS = 5;

export type LinkPlan = { readonly ok: true; readonly evict: string[] } | { readonly ok: false };

export function planLink(linked: readonly LinkedDevice[], device: string, limits: DeviceLimits): LinkPlan {
  const keep = new Set(limits.keep);
  const protectedDevice = (d: LinkedDevice) => d.device === device || keep.has(d.device);
  const evict = linked.filter((d) => !protectedDevice(d) && d.lastSeen + limits.idleMs < limits.now).map((d) => d.device);
  const rest = linked.filter((d) => !evict.includes(d.device));
  const others = rest.filter((d) => d.device !== device);
  // Room for the linked device itself: at most maxDevices - 1 others stay.
  const surplus = others.length - (limits.maxDevices - 1);
  if (surplus > 0) {
    const candidates = others.filter((d) => !keep.has(d.device)).sort((a, b) => a.lastSeen - b.lastSeen || (a.device < b.device ? -1 : 1));
    if (candidates.length < surplus) return { ok: false };
    evict.push(...candidates.slice(0, surplus).map((d) => d.device));
  }
  return { ok: true, evict };
}

export function checkDeviceLimits(limits: DeviceLimits): void {
  if (!Number.isSafeInteger(limits.maxDevices) || limits.maxDevices < 1) throw new RangeError(`inbox: bad maxDevices ${String(limits.maxDevices)}`);
  if (!Number.isSafeInteger(limits.idleMs) || limits.idleMs < 1) throw new RangeError(`inbox: bad idleMs ${String(limits.idleMs)}`);
  if (!Number.isSafeInteger(limits.now) || limits.now < 0) throw new RangeError(`inbox: bad now ${String(limits.now)}`);
}

/**
 * linkDevice of a durable backend, optimistically: read the linked devices, plan, and let `commit` apply the plan
 * only if the devices are still what was read (false: they changed meanwhile, read again).
 */
export async function linkOptimistically(
  userId: number,
  device: string,
  limits: DeviceLimits,
  read: () => Promise<LinkedDevice[]>,
  commit: (linked: readonly LinkedDevice[], evict: readonly string[]) => Promise<boolean>,
): Promise<LinkResult> {
  checkUserId(userId);
  checkDevice(device);
  checkDeviceLimits(limits);
  for (let attempt = 0; attempt < SNAPSHOT_ATTEMPTS; attempt++) {
    const linked = await read();
    const plan = planLink(linked, device, limits);
    if (!plan.ok) return { ok: false, reason: 'too-many-devices' };
    if (await commit(linked, plan.evict)) return { ok: true, evicted: plan.evict };
  }
  throw new Error(`inbox: the devices of user ${userId} kept changing during a link`);
}

/** The inboxes an append fills: every linked device but `except`; the '' inbox when none is linked. */
export function appendTargets(linked: readonly string[], except: string | undefined): string[] {
  if (linked.length === 0) return except === undefined ? [''] : [];
  return linked.filter((d) => d !== except);
}

/**
 * A DeviceInboxStore over a backend without devices: everything happens in the default inbox, a carbon
 * copy has nowhere to go. Components refuse --login-policy multi on such a backend (nothing would link).
 */
export function asDeviceInbox(store: InboxStore): DeviceInboxStore {
  if (supportsDevices(store)) return store;
  return {
    append: (userId, message, limits, options) => (options?.exceptDevice !== undefined ? Promise.resolve(REFUSED_NO_DEVICE) : store.append(userId, message, limits)),
    pending: (userId, afterSeq, limit, device = '') => (device === '' ? store.pending(userId, afterSeq, limit) : Promise.resolve([])),
    ack: (userId, seqs, device = '') => (device === '' ? store.ack(userId, seqs) : Promise.resolve([])),
    maxSeq: (userId) => store.maxSeq(userId),
    linkDevice: () => Promise.reject(new Error('this offline store keeps no devices (--login-policy multi needs redis, postgres or memory)')),
    unlinkDevice: () => Promise.resolve(false),
    devices: () => Promise.resolve([]),
  };
}
