import { describe, expect, it } from 'vitest';
import { formatSeqRanges, parseSeqRanges } from './seq-ranges.ts';

describe('seq ranges', () => {
  it('parses single seqs and ranges into sorted distinct seqs', () => {
    expect(parseSeqRanges(['5-9', '12', '7', ' 3 '])).toEqual([3, 5, 6, 7, 8, 9, 12]);
  });

  it('rejects malformed, reversed, zero and oversized ranges', () => {
    for (const bad of [['x'], ['5-'], ['9-5'], ['0'], ['-3'], ['1-2-3'], ['1.5'], ['']]) expect(parseSeqRanges(bad), JSON.stringify(bad)).toBeUndefined();
    expect(parseSeqRanges(['1-10001'])).toBeUndefined();
    expect(parseSeqRanges(['1-6000', '6001-12000'])).toBeUndefined();
    expect(parseSeqRanges(['1-10000'])).toHaveLength(10_000);
  });

  it('formats compact ranges and round-trips', () => {
    expect(formatSeqRanges([7, 1, 3, 2, 2, 9, 8])).toEqual(['1-3', '7-9']);
    expect(formatSeqRanges([])).toEqual([]);
    expect(parseSeqRanges(formatSeqRanges([4, 10, 11, 12, 20]))).toEqual([4, 10, 11, 12, 20]);
  });
});
