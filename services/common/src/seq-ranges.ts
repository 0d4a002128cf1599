/**
 * Seq ranges of a RECEIPT delivered frame: `"5-9"`, `"12"` (docs/delivery.md). Pure. Parsing is strict
 * and bounded, because the strings come from clients: a bad range yields undefined, never a throw, and
 * no frame can make the server build a huge array.
 */

/** Most seqs one RECEIPT may acknowledge (an inbox holds at most --inbox-max; this bounds the work). */
export const MAX_SEQS_PER_RECEIPT = 10_000;
const RANGE = /^(\d{1,15})(?:-(\d{1,15}))?$/;

/** The seqs named by `ranges`, sorted and distinct; undefined when a range is malformed or too many seqs. */
export function parseSeqRanges(ranges: readonly string[], max = MAX_SEQS_PER_RECEIPT): number[] | undefined {
  const seqs = new Set<number>();
  for (const range of ranges) {
    const m = RANGE.exec(range.trim());
    if (!m) return undefined;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from < 1 || to < from || to - from + 1 > max) return undefined;
    for (let s = from; s <= to; s++) {
      seqs.add(s);
      if (seqs.size > max) return undefined;
    }
  }
  return [...seqs].sort((a, b) => a - b);
}

/** Compact ranges of `seqs` (any order, duplicates allowed): [1,2,3,7] -> ["1-3", "7"]. */
export function formatSeqRanges(seqs: Iterable<number>): string[] {
  const sorted = [...new Set(seqs)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    out.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return out;
}
