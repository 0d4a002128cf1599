/** Which sessions must go because they are silent or never logged in. Pure. */
import type { CloseReason, Session } from './session.ts';

export interface HeartbeatPolicy {
  /** a logged-in client silent for longer than this is evicted */
  readonly heartbeatTimeoutMs: number;
  /** a connection that has not logged in after this is closed */
  readonly loginTimeoutMs: number;
}

export function findExpiredSessions(sessions: Iterable<Session>, now: number, policy: HeartbeatPolicy): [Session, CloseReason][] {
  const expired: [Session, CloseReason][] = [];
  for (const s of sessions) {
    if (s.status === 'connecting' && now - s.connectedAt > policy.loginTimeoutMs) expired.push([s, 'login-timeout']);
    else if (s.status === 'ready' && now - s.lastReadAt > policy.heartbeatTimeoutMs) expired.push([s, 'heartbeat-timeout']);
  }
  return expired;
}

/** How often to sweep so that eviction happens within timeout + at most 1 s. */
export function sweepIntervalMs(policy: HeartbeatPolicy): number {
  return Math.max(50, Math.min(1000, policy.heartbeatTimeoutMs / 4, policy.loginTimeoutMs / 4));
}
