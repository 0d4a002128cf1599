import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { CloseCodes, type CloseReason } from '../../common/src/codes.ts';

const CLOSE_REASONS = Object.keys(CloseCodes) as CloseReason[];

export function createServerMetrics(registry: Registry) {
  const registers = [registry];
  const m = {
    connections: new Gauge({ name: 'cim_server_connections', help: 'Open client connections', labelNames: ['transport'] as const, registers }),
    users: new Gauge({ name: 'cim_server_logged_in_users', help: 'Users logged in on this server', registers }),
    logins: new Counter({ name: 'cim_server_logins_total', help: 'LOGIN_REQUEST frames by result', labelNames: ['result'] as const, registers }),
    framesIn: new Counter({ name: 'cim_server_frames_in_total', help: 'Frames received from clients by command', labelNames: ['cmd'] as const, registers }),
    messagesOut: new Counter({ name: 'cim_server_messages_out_total', help: 'Frames written to clients by command', labelNames: ['cmd'] as const, registers }),
    pushLinkBatches: new Counter({ name: 'cim_server_push_link_batches_total', help: 'Push batches received over /push/link (routes and other servers), by result', labelNames: ['result'] as const, registers }),
    pushLinkPushes: new Counter({ name: 'cim_server_push_link_pushes_total', help: 'Pushes received over /push/link', registers }),
    closes: new Counter({ name: 'cim_server_connections_closed_total', help: 'Closed connections by reason', labelNames: ['reason'] as const, registers }),
    evictions: new Counter({ name: 'cim_server_evictions_total', help: 'Connections evicted by the server (heartbeat, login timeout, slow consumer, bad frames)', labelNames: ['reason'] as const, registers }),
    inboxDropped: new Counter({ name: 'cim_inbox_dropped_total', help: 'Pending private messages dropped because an inbox exceeded --inbox-max (lost)', registers }),
    inboxRefused: new Counter({ name: 'cim_inbox_refused_total', help: 'Private messages refused by an inbox bound (per-sender: --inbox-max-per-sender, code 7310)', labelNames: ['reason'] as const, registers }),
    historyFailed: new Counter({ name: 'cim_history_failed_total', help: 'Stored private messages whose history append failed (delivered, missing from the server-side history)', registers }),
    pushLatency: new Histogram({
      name: 'cim_server_push_duration_seconds',
      help: 'Time to handle one push (route -> server) until its frames are written',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers,
    }),
    deliveryLatency: new Histogram({
      name: 'cim_server_delivery_latency_seconds',
      help: 'Time from the sender\'s message entering the system (sentAt) to the frame written to the receiver',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
  };
  for (const t of ['tcp', 'ws']) m.connections.set({ transport: t }, 0);
  for (const r of ['ok', 'refused']) m.logins.inc({ result: r }, 0);
  for (const r of CLOSE_REASONS) m.closes.inc({ reason: r }, 0);
  for (const r of ['heartbeat-timeout', 'login-timeout', 'slow-consumer', 'bad-frame', 'oversize-frame']) m.evictions.inc({ reason: r }, 0);
  m.inboxRefused.inc({ reason: 'per-sender' }, 0);
  return m;
}

export type ServerMetrics = ReturnType<typeof createServerMetrics>;
