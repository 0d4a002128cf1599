/**
 * Drain (SIGTERM): the server stops accepting logins, tells every client to reconnect elsewhere (GOAWAY
 * 1001, reconnect) and closes it, and clears their presence. Nothing is lost: private messages sit in
 * inboxes until acknowledged.
 */
import type { Logger } from '../../common/src/log.ts';
import type { RouteStore } from '../../common/src/route-store/types.ts';
import type { Hub } from './hub.ts';

export async function drainSessions(hub: Hub, store: Pick<RouteStore, 'logout'>, selfId: string, log: Logger): Promise<void> {
  const users = hub.userIds();
  for (const session of [...hub.sessions()]) session.close('shutdown');
  const results = await Promise.allSettled(users.map((userId) => store.logout(userId, selfId)));
  const failed = results.filter((r) => r.status === 'rejected').length;
  if (failed > 0) log.warn({ failed }, 'clearing presence failed for some users; it expires on its own');
}
