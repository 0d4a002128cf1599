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
  | { kind: 'no_server' }
  | { kind: 'abandoned' };

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
  /**
   * A second login of an online user: reject (CIM's), or takeover / multi: sent to the server already
   * holding the user, which replaces the old session (takeover) or adds one per device (multi).
   */
  readonly policy?: 'reject' | 'takeover' | 'multi';
}

/**
 * `abandoned`: whether the requester went away (its request timed out while a stalled store answered). Such a login
 * writes no route, and takes back one it wrote: nobody will connect with it, and its pending route would answer the
 * requester's next attempt with 5000 until it expired.
 */
export async function login(deps: LoginDeps, userId: number, userName: string, abandoned: () => boolean = () => false): Promise<LoginOutcome> {
  // Both reads at once: one round trip (auto-pipelined into one write), not two, per login.
  const [account, current] = await Promise.all([deps.store.getAccount(userId), deps.store.getRoute(userId)]);
  if (!account || account.userName !== userName) return { kind: 'account_mismatch' };

  const servers = deps.meta.servers();
  // A route naming a server that is no longer registered is stale (that server crashed): take it over.
  const holder = current === undefined ? undefined : servers.find((s) => s.id === current);
  let takeOver = current !== undefined && holder === undefined ? current : undefined;
  if (holder !== undefined) {
    if ((deps.policy ?? 'reject') === 'reject') return { kind: 'repeat' };
    // One server holds all of a user's sessions, so it alone decides who is replaced and counts devices.
    if (await deps.probe(holder)) return { kind: 'ok', server: holder };
    takeOver = holder.id; // registered but unreachable from here: route the user elsewhere
  }

  const unreachable = new Set<string>();
  for (;;) {
    const chosen = deps.strategy.choose(servers, userId, unreachable);
    if (!chosen) return { kind: 'no_server' };
    if (!(await deps.probe(chosen))) {
      unreachable.add(chosen.id);
      continue;
    }
    if (abandoned()) return { kind: 'abandoned' };
    const result = await deps.store.login(userId, chosen.id, deps.pendingTtlMs, takeOver);
    if (!result.ok) return { kind: 'repeat' };
    if (abandoned()) {
      await deps.store.logout(userId, chosen.id);
      return { kind: 'abandoned' };
    }
    return { kind: 'ok', server: chosen };
  }
}
