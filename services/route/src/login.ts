/**
 * The login decision: account check, duplicate check (with take-over of routes that name a dead
 * server), server choice among reachable live servers, then the atomic presence write.
 */
import type { MetaStore } from '../../common/src/meta-store/types.ts';
import type { RouteStore } from '../../common/src/route-store/types.ts';
import type { SelectionStrategy } from '../../common/src/selection.ts';
import type { ServerInfo } from '../../common/src/server-address.ts';
import type { Probe } from './probe.ts';

export type LoginOutcome =
  | { kind: 'ok'; server: ServerInfo }
  | { kind: 'account_mismatch' }
  | { kind: 'repeat' }
  | { kind: 'no_server' };

export interface LoginDeps {
  readonly store: RouteStore;
  readonly meta: MetaStore;
  readonly strategy: SelectionStrategy;
  readonly probe: Probe;
  /**
   * TTL of the presence a login writes. The server extends it to its full presence TTL when the
   * client's LOGIN_REQUEST arrives, so a client that never connects blocks re-logins only briefly.
   */
  readonly pendingTtlMs: number;
}

export async function login(deps: LoginDeps, userId: number, userName: string): Promise<LoginOutcome> {
  const account = await deps.store.getAccount(userId);
  if (!account || account.userName !== userName) return { kind: 'account_mismatch' };

  const servers = deps.meta.servers();
  const current = await deps.store.getRoute(userId);
  // A route naming a server that is no longer registered is stale (that server crashed): take it over.
  const takeOver = current !== undefined && !servers.some((s) => s.id === current) ? current : undefined;
  if (current !== undefined && takeOver === undefined) return { kind: 'repeat' };

  const unreachable = new Set<string>();
  for (;;) {
    const chosen = deps.strategy.choose(servers, userId, unreachable);
    if (!chosen) return { kind: 'no_server' };
    if (!(await deps.probe(chosen))) {
      unreachable.add(chosen.id);
      continue;
    }
    const result = await deps.store.login(userId, chosen.id, deps.pendingTtlMs, takeOver);
    return result.ok ? { kind: 'ok', server: chosen } : { kind: 'repeat' };
  }
}
