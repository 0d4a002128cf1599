/**
 * Reachability of a chosen server's client port before a login is routed to it (CIM probes too, but
 * then stored the unreachable server). Successes are cached briefly, and logins that find no fresh answer
 * share the one probe in flight, so a login storm does not turn into a connect storm on the server it probes.
 */
import { connect } from 'node:net';
import type { Clock } from '../../common/src/clock.ts';
import type { ServerInfo } from '../../common/src/server-address.ts';

export type Probe = (server: ServerInfo) => Promise<boolean>;

export function tcpProbe(timeoutMs: number): Probe {
  return (server) =>
    new Promise((resolve) => {
      const socket = connect({ host: server.host, port: server.tcpPort });
      const finish = (ok: boolean) => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(timeoutMs, () => finish(false));
      socket.once('connect', () => finish(true));
      socket.once('error', () => finish(false));
    });
}

export function cachedProbe(probe: Probe, clock: Clock, okTtlMs = 2000): Probe {
  const okUntil = new Map<string, number>();
  const inFlight = new Map<string, Promise<boolean>>();
  return (server) => {
    const until = okUntil.get(server.id);
    if (until !== undefined && until > clock.now()) return Promise.resolve(true);
    const running = inFlight.get(server.id);
    if (running) return running;
    const probing = probe(server).then(
      (ok) => {
        inFlight.delete(server.id);
        if (ok) okUntil.set(server.id, clock.now() + okTtlMs);
        else okUntil.delete(server.id);
        return ok;
      },
      (err: unknown) => {
        inFlight.delete(server.id);
        throw err;
      },
    );
    inFlight.set(server.id, probing);
    return probing;
  };
}
