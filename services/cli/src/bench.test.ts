import { describe, expect, it, vi } from 'vitest';
import { defaultWorkers, main } from './bench.ts';

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

describe('cim bench against an existing deployment', () => {
  it('refuses an explicit floor scenario (it measures this machine, with the Redis of a cluster it starts)', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['--scenario', 'floor', '--route', 'http://127.0.0.1:9'], {})).toBe(2);
      expect(String(stderr.mock.calls[0]?.[0])).toContain('run it without --route');
    } finally {
      stderr.mockRestore();
    }
  });
});
