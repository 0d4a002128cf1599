/** What the parts of the server core (login, messages, receipts, replay, drain) share. */
import type { AuthStore } from '../../common/src/auth-store.ts';
import type { Clock } from '../../common/src/clock.ts';
import type { PresenceNotifier } from '../../common/src/contacts/presence.ts';
import type { DeviceInboxStore } from '../../common/src/inbox/types.ts';
import type { Logger } from '../../common/src/log.ts';
import type { MessageRouter } from '../../common/src/message-router.ts';
import type { RouteStore } from '../../common/src/route-store/types.ts';
import type { HeartbeatPolicy } from './heartbeat.ts';
import type { RateLimitOptions } from './limits.ts';
import type { ServerMetrics } from './metrics.ts';
import type { CloseReason, Session } from './session.ts';

export interface ServerNodeOptions {
  /** this server's `host:tcpPort:httpPort` */
  readonly selfId: string;
  readonly store: RouteStore;
  readonly inbox: DeviceInboxStore;
  readonly router: MessageRouter;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: ServerMetrics;
  readonly policy: HeartbeatPolicy;
  readonly presenceTtlMs: number;
  readonly maxQueueBytes: number;
  readonly authSecret?: string | undefined;
  /** 'cim': no tokens even with a secret (CIM's clients); default: tokens whenever authSecret is set */
  readonly authMode?: 'cim' | 'password';
  /** revocations (logout, password change), checked at login and every revocationCheckMs for live sessions */
  readonly authStore?: AuthStore | undefined;
  readonly revocationCheckMs?: number;
  /** per-connection frame rate (services/server/src/limits.ts); absent = unlimited */
  readonly rateLimit?: RateLimitOptions;
  /** largest in-band message text in UTF-8 bytes (default DEFAULT_MAX_MESSAGE_BYTES) */
  readonly maxMessageBytes?: number;
  /** online/offline events to the users' watchers (contacts/presence.ts); absent = none */
  readonly presence?: PresenceNotifier | undefined;
  /** a second login of a user (--login-policy); default reject (CIM's) */
  readonly loginPolicy?: LoginPolicy;
  /** --max-devices: with loginPolicy multi, most devices per user */
  readonly maxDevices?: number;
  /** ms a linked device may stay unused before a new device's link unlinks it (the inbox TTL) */
  readonly deviceIdleMs?: number;
}

export type LoginPolicy = 'reject' | 'takeover' | 'multi';

/** Closes a connection with a logged reason (GOAWAY + close code: Session.close). */
export function closeSession(log: Logger, session: Session, reason: CloseReason, detail: string): void {
  log.info({ reason, detail, userId: session.userId || undefined, remote: session.transport.remoteAddress }, 'closing connection');
  session.close(reason);
}
