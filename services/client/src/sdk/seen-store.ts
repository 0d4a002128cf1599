/**
 * Which messages this device has already shown, by `(sender, msgId)`. The server pushes an inbox entry
 * again until it is acknowledged (at least once), so the receiving side drops what it has seen: the
 * store is injectable so a re-created client of the same device (a restarted `cim chat`) can share it.
 */

export interface SeenStore {
  /** true when the key was added before (and not evicted since). */
  has(key: string): boolean;
  add(key: string): void;
}

/** The dedup key of a message: the sender's id and the sender-chosen msgId. */
export function seenKey(senderId: number, msgId: string): string {
  return `${senderId}:${msgId}`;
}

export const DEFAULT_SEEN_CAPACITY = 10_000;

/** In-memory LRU: the oldest keys are forgotten beyond `capacity`. */
export class MemorySeenStore implements SeenStore {
  readonly #capacity: number;
  /** A Map keeps insertion order: re-inserting on a hit makes it an LRU. */
  readonly #keys = new Map<string, true>();

  constructor(capacity = DEFAULT_SEEN_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#keys.size;
  }

  has(key: string): boolean {
    if (!this.#keys.has(key)) return false;
    this.#keys.delete(key);
    this.#keys.set(key, true);
    return true;
  }

  add(key: string): void {
    this.#keys.delete(key);
    this.#keys.set(key, true);
    while (this.#keys.size > this.#capacity) this.#keys.delete(this.#keys.keys().next().value!);
  }
}
