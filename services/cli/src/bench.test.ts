import { describe, expect, it } from 'vitest';
import { defaultWorkers } from './bench.ts';

describe('defaultWorkers', () => {
  const base = { users: 1000, cimUsers: 400, failoverUsers: 1000 };

  it('runs one generator process while its clients fit in one', () => {
    expect(defaultWorkers({ ...base, scenario: ['all'] })).toBe(1);
    expect(defaultWorkers({ ...base, scenario: ['p2p'], users: 19_000 })).toBe(1);
  });

  it('adds a process per 19,000 clients of the largest scenario asked for', () => {
    expect(defaultWorkers({ ...base, scenario: ['connections'], users: 19_001 })).toBe(2);
    expect(defaultWorkers({ ...base, scenario: ['connections'], users: 76_000 })).toBe(4);
    expect(defaultWorkers({ ...base, scenario: ['failover'], failoverUsers: 38_000 })).toBe(2);
    expect(defaultWorkers({ ...base, scenario: ['all'], failoverUsers: 38_000 })).toBe(2);
  });

  it('counts only the scenarios asked for', () => {
    expect(defaultWorkers({ ...base, scenario: ['p2p-cim'], users: 76_000 })).toBe(1);
    expect(defaultWorkers({ ...base, scenario: ['login', 'p2p-cim'], users: 40_000 })).toBe(3);
  });
});
