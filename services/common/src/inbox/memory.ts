import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import { checkLimits, checkPage, checkUserId, distinctSeqs, idempotencyKey, normalizeMessage, REFUSED_PER_SENDER, senderCap } from './entry.ts';
import type { AppendResult, InboxEntry, InboxLimits, InboxMessage, InboxStore } from './types.ts';

interface Box {
  /** pending entries, ascending seq */
  entries: InboxEntry[];
  /** sender:msgId -> seq; insertion order is seq order, so the oldest come first */
  ids: Map<string, number>;
  /** senderId -> pending entries of that sender (the per-sender bound) */
  senders: Map<number, number>;
  expiresAt: number;
}

/**
 * In-memory InboxStore for unit tests and the embedded single-process mode. Every method is atomic
 * because it runs to completion on the event loop. Same rules as the Redis backend: the seq counter
 * never expires; entries and the id index expire together `ttlMs` after the last stored append.
 */
export class MemoryInboxStore implements InboxStore {
  readonly #clock: Clock;
  readonly #boxes = new Map<number, Box>();
  readonly #seqs = new Map<number, number>();

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  #live(userId: number): Box | undefined {
    const box = this.#boxes.get(userId);
    if (box && box.expiresAt <= this.#clock.now()) {
      this.#boxes.delete(userId);
      return undefined;
    }
    return box;
  }

  async append(userId: number, message: InboxMessage, limits: InboxLimits): Promise<AppendResult> {
    checkUserId(userId);
    checkLimits(limits);
    const m = normalizeMessage(message);
    const key = idempotencyKey(m);
    const box = this.#live(userId) ?? { entries: [], ids: new Map<string, number>(), senders: new Map<number, number>(), expiresAt: 0 };
    const known = box.ids.get(key);
    if (known !== undefined) return { seq: known, duplicate: true, dropped: 0 };
    const held = box.senders.get(m.from.userId) ?? 0;
    if (held >= senderCap(limits)) return REFUSED_PER_SENDER;

    const seq = (this.#seqs.get(userId) ?? 0) + 1;
    this.#seqs.set(userId, seq);
    box.entries.push(Object.freeze({ seq, ...m }));
    box.ids.set(key, seq);
    box.senders.set(m.from.userId, held + 1);
    const dropped = Math.max(0, box.entries.length - limits.maxEntries);
    forget(box, box.entries.splice(0, dropped));
    for (const id of box.ids.keys()) {
      if (box.ids.size <= 2 * limits.maxEntries) break;
      box.ids.delete(id);
    }
    box.expiresAt = this.#clock.now() + limits.ttlMs;
    this.#boxes.set(userId, box);
    return { seq, duplicate: false, dropped };
  }

  async pending(userId: number, afterSeq: number, limit: number): Promise<InboxEntry[]> {
    checkUserId(userId);
    checkPage(afterSeq, limit);
    const entries = this.#live(userId)?.entries ?? [];
    return entries.filter((e) => e.seq > afterSeq).slice(0, limit);
  }

  async ack(userId: number, seqs: readonly number[]): Promise<InboxEntry[]> {
    checkUserId(userId);
    const wanted = new Set(distinctSeqs(seqs));
    const box = this.#live(userId);
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
}

/** Entries that left the box no longer count against their senders. */
function forget(box: Box, gone: readonly InboxEntry[]): void {
  for (const e of gone) {
    const n = (box.senders.get(e.from.userId) ?? 0) - 1;
    if (n > 0) box.senders.set(e.from.userId, n);
    else box.senders.delete(e.from.userId);
  }
}
