import { getPriority } from 'node:os';
import { describe, expect, it } from 'vitest';
import { Fleet } from './fleet.ts';

describe('Fleet', () => {
  it('runs its workers the steps asked for below the parent\'s scheduling priority, and at the parent\'s by default', async () => {
    const own = getPriority();
    const lowered = Math.min(19, own + 7);
    const { fleet, niced } = await Fleet.start(2, 7);
    const plain = await Fleet.start(1);
    try {
      expect(niced).toBe(true);
      expect(fleet.priorities()).toEqual([lowered, lowered]);
      expect(plain.niced).toBe(true);
      expect(plain.fleet.priorities()).toEqual([own]);
    } finally {
      await Promise.all([fleet.close(), plain.fleet.close()]);
    }
    expect(fleet.workers.every((w) => w.exitCode !== null || w.signalCode !== null)).toBe(true);
  });
});
