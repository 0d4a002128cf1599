import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import { appendTargets, checkDeviceLimits, planLink } from './devices.ts';
import { checkDevice, checkLimits, checkPage, checkUserId, distinctSeqs, idempotencyKey, normalizeMessage, REFUSED_NO_DEVICE, REFUSED_PER_SENDER, senderCap } from './entry.ts';
import type { AppendOptions, AppendResult, DeviceInboxStore, DeviceLimits, InboxEntry, InboxLimits, InboxMessage, LinkedDevice, LinkResult } from './types.ts';

interface Box {
  /** pending entries, ascending seq */
  entries: InboxEntry[];
  /** senderId -> pending entries of that sender (the per-sender bound) */
  senders: Map<number, number>;
  expiresAt: number;
}

interface UserInbox {
  /** device -> its inbox ('' = the default one) */
  boxes: Map<string, Box>;
  /** sender:msgId -> seq; insertion order is seq order, so the oldest come first; shared by the devices */
  ids: Map<string, number>;
  idsExpireAt: number;
  /** linked device -> lastSeen */
  devices: Map<string, number>;
}

/**
 * In-memory InboxStore for unit tests and the embedded single-process mode. Every method is atomic
 * because it runs to completion on the event loop. Same rules as the Redis backend: the seq counter
 * never expires; entries and the id index expire together `ttlMs` after the last stored append.
 */
export class MemoryInboxStore implements DeviceInboxStore {
  readonly #clock: Clock;
  readonly #users = new Map<number, UserInbox>();
  readonly #seqs = new Map<number, number>();

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  #user(userId: number): UserInbox {
    let u = this.#users.get(userId);
    if (!u) {
      u = { boxes: new Map(), ids: new Map(), idsExpireAt: 0, devices: new Map() };
      this.#users.set(userId, u);
    }
    const now = this.#clock.now();
    if (u.idsExpireAt <= now) u.ids.clear();
    for (const [device, box] of u.boxes) if (box.expiresAt <= now) u.boxes.delete(device);
    return u;
  }

  #box(u: UserInbox, device: string): Box {
    let box = u.boxes.get(device);
    if (!box) {
      box = { entries: [], senders: new Map(), expiresAt: 0 };
      u.boxes.set(device, box);
    }
    return box;
  }

  async append(userId: number, message: InboxMessage, limits: InboxLimits, options: AppendOptions = {}): Promise<AppendResult> {
    checkUserId(userId);
    checkLimits(limits);
    if (options.exceptDevice !== undefined) checkDevice(options.exceptDevice);
    const m = normalizeMessage(message);
    const key = idempotencyKey(m);
    const u = this.#user(userId);
    const known = u.ids.get(key);
    if (known !== undefined) return { seq: known, duplicate: true, dropped: 0 };
    const targets = appendTargets([...u.devices.keys()].sort(), options.exceptDevice);
    if (targets.length === 0) return REFUSED_NO_DEVICE;
    const cap = senderCap(limits);
    if (targets.some((d) => (u.boxes.get(d)?.senders.get(m.from.userId) ?? 0) >= cap)) return REFUSED_PER_SENDER;

    const seq = (this.#seqs.get(userId) ?? 0) + 1;
    this.#seqs.set(userId, seq);
    const entry = Object.freeze({ seq, ...m });
    const expiresAt = this.#clock.now() + limits.ttlMs;
    let dropped = 0;
    for (const device of targets) {
      const box = this.#box(u, device);
      box.entries.push(entry);
      box.senders.set(m.from.userId, (box.senders.get(m.from.userId) ?? 0) + 1);
      const over = Math.max(0, box.entries.length - limits.maxEntries);
      forget(box, box.entries.splice(0, over));
      dropped += over;
      box.expiresAt = expiresAt;
    }
    u.ids.set(key, seq);
    for (const id of u.ids.keys()) {
      if (u.ids.size <= 2 * limits.maxEntries) break;
      u.ids.delete(id);
    }
    u.idsExpireAt = expiresAt;
    return { seq, duplicate: false, dropped };
  }

  async pending(userId: number, afterSeq: number, limit: number, device = ''): Promise<InboxEntry[]> {
    checkUserId(userId);
    checkPage(afterSeq, limit);
    checkDevice(device);
    const entries = this.#user(userId).boxes.get(device)?.entries ?? [];
    return entries.filter((e) => e.seq > afterSeq).slice(0, limit);
  }

  async ack(userId: number, seqs: readonly number[], device = ''): Promise<InboxEntry[]> {
    checkUserId(userId);
    checkDevice(device);
    const wanted = new Set(distinctSeqs(seqs));
    const box = this.#user(userId).boxes.get(device);
    if (!box || wanted.size === 0) return [];
    const removed = box.entries.filter((e) => wanted.has(e.seq));
    // The id index stays: a retried send of an acknowledged message is still a duplicate.
    box.entries = box.entries.filter((e) => !wanted.has(e.seq));
    forget(box, removed);
    return removed;
  }

  async maxSeq(userId: number): Promise<number> {
    checkUserId(userId);
    return this.#seqs.get(userId) ?? 0;
  }

  async linkDevice(userId: number, device: string, limits: DeviceLimits): Promise<LinkResult> {
    checkUserId(userId);
    checkDevice(device);
    checkDeviceLimits(limits);
    const u = this.#user(userId);
    const plan = planLink(linkedOf(u), device, limits);
    if (!plan.ok) return { ok: false, reason: 'too-many-devices' };
    for (const d of plan.evict) {
      u.devices.delete(d);
      u.boxes.delete(d);
    }
    // The first linked device inherits what waits in the default inbox.
    if (u.devices.size === 0 && device !== '') {
      const base = u.boxes.get('');
      u.boxes.delete('');
      if (base) u.boxes.set(device, base);
    }
    u.devices.set(device, limits.now);
    return { ok: true, evicted: plan.evict };
  }

  async unlinkDevice(userId: number, device: string): Promise<boolean> {
    checkUserId(userId);
    checkDevice(device);
    const u = this.#user(userId);
    if (!u.devices.delete(device)) return false;
    u.boxes.delete(device);
    return true;
  }

  async devices(userId: number): Promise<LinkedDevice[]> {
    checkUserId(userId);
    return linkedOf(this.#user(userId)).sort((a, b) => b.lastSeen - a.lastSeen);
  }
}

const linkedOf = (u: UserInbox): LinkedDevice[] => [...u.devices].map(([device, lastSeen]) => ({ device, lastSeen }));

/** Entries that left the box no longer count against their senders. */
function forget(box: Box, gone: readonly InboxEntry[]): void {
  for (const e of gone) {
    const n = (box.senders.get(e.from.userId) ?? 0) - 1;
    if (n > 0) box.senders.set(e.from.userId, n);
    else box.senders.delete(e.from.userId);
  }
}
