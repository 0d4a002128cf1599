/**
 * CIM-compatible consistent hashing (TreeMapConsistentHash): for each server `v`, ring points
 * hash("vir" + k + "0"), hash("vir" + k + "1") and k = hash(v); a key maps to the first point >= its
 * hash, wrapping to the smallest. hash = MD5, digest bytes 0..3 read as little-endian unsigned 32-bit.
 * Kept bit-for-bit so that a mixed deployment with CIM's Java route chooses the same servers. Pure.
 */
import { createHash } from 'node:crypto';

export function cimHash(value: string): number {
  const d = createHash('md5').update(value, 'utf8').digest();
  return d.readUInt32LE(0);
}

export const CIM_VIRTUAL_NODES = 2;

interface Point {
  readonly hash: number;
  readonly server: string;
}

/** An immutable ring; build it once per server-list change, not per lookup. */
export class HashRing {
  readonly #points: readonly Point[];

  constructor(servers: readonly string[], virtualNodes = CIM_VIRTUAL_NODES) {
    const byHash = new Map<number, string>();
    for (const server of servers) {
      const k = cimHash(server);
      // Insertion order as CIM's TreeMap.put: virtual nodes first, then the real node (later puts win).
      for (let i = 0; i < virtualNodes; i++) byHash.set(cimHash(`vir${k}${i}`), server);
      byHash.set(k, server);
    }
    this.#points = [...byHash.entries()].map(([hash, server]) => ({ hash, server })).sort((a, b) => a.hash - b.hash);
  }

  get size(): number {
    return this.#points.length;
  }

  /** The server for `key` (CIM uses the decimal userId), or undefined on an empty ring. */
  lookup(key: string): string | undefined {
    if (this.#points.length === 0) return undefined;
    const h = cimHash(key);
    let lo = 0;
    let hi = this.#points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#points[mid]!.hash >= h) hi = mid;
      else lo = mid + 1;
    }
    return (this.#points[lo] ?? this.#points[0]!).server;
  }
}
