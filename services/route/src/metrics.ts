import { Counter, Gauge, type Registry } from 'prom-client';

export const LOGIN_RESULTS = ['ok', 'repeat', 'no_server', 'account_mismatch', 'unauthorized', 'abandoned'] as const;
export type LoginOutcome = (typeof LOGIN_RESULTS)[number];

export function createRouteMetrics(registry: Registry) {
  const registers = [registry];
  const m = {
    logins: new Counter({ name: 'cim_route_logins_total', help: 'Logins by result', labelNames: ['result'] as const, registers }),
    registrations: new Counter({ name: 'cim_route_registrations_total', help: 'registerAccount calls', registers }),
    messages: new Counter({ name: 'cim_route_messages_total', help: 'Messages routed, by kind and result', labelNames: ['kind', 'result'] as const, registers }),
    inboxDropped: new Counter({ name: 'cim_inbox_dropped_total', help: 'Pending private messages dropped because an inbox exceeded --inbox-max (lost)', registers }),
    inboxRefused: new Counter({ name: 'cim_inbox_refused_total', help: 'Private messages refused by an inbox bound (per-sender: --inbox-max-per-sender, code 7310)', labelNames: ['reason'] as const, registers }),
    historyFailed: new Counter({ name: 'cim_history_failed_total', help: 'Stored private messages whose history append failed (delivered, missing from the server-side history)', registers }),
    servers: new Gauge({ name: 'cim_route_live_servers', help: 'Live cim-servers in the ZooKeeper watch', registers }),
  };
  for (const r of LOGIN_RESULTS) m.logins.inc({ result: r }, 0);
  for (const [k, r] of [['p2p', 'delivered'], ['p2p', 'offline'], ['p2p', 'failed'], ['group', 'delivered']] as const) m.messages.inc({ kind: k, result: r }, 0);
  m.inboxRefused.inc({ reason: 'per-sender' }, 0);
  return m;
}

export type RouteMetrics = ReturnType<typeof createRouteMetrics>;
