import { describe, expect, it } from 'vitest';
import { findExpiredSessions, sweepIntervalMs } from './heartbeat.ts';
import { Session, type TransportPort } from './session.ts';

const transport: TransportPort = { kind: 'ws', remoteAddress: 'test', bufferedBytes: () => 0, writeFrame: () => true, close: () => undefined };
const policy = { heartbeatTimeoutMs: 30_000, loginTimeoutMs: 5_000 };

describe('heartbeat eviction', () => {
  it('evicts a logged-in client silent for longer than the timeout, and only then', () => {
    const s = new Session(transport, 0);
    expect(s.login(7, 'u')).toBe(true);
    s.touch(1000);
    expect(findExpiredSessions([s], 31_000, policy)).toEqual([]);
    expect(findExpiredSessions([s], 31_001, policy)).toEqual([[s, 'heartbeat-timeout']]);
  });

  it('closes a connection that never logs in', () => {
    const s = new Session(transport, 0);
    expect(findExpiredSessions([s], 5_000, policy)).toEqual([]);
    expect(findExpiredSessions([s], 5_001, policy)).toEqual([[s, 'login-timeout']]);
  });

  it('sweeps often enough to evict within timeout + 1 s', () => {
    expect(sweepIntervalMs(policy)).toBe(1000);
    expect(sweepIntervalMs({ heartbeatTimeoutMs: 2000, loginTimeoutMs: 5000 })).toBe(500);
  });
});
