/** IPC messages of the failover scenario between `cim bench` and its workers (joined into protocol.ts's unions). */
import type { HistogramMsg } from './protocol.ts';

export type FailoverToWorker =
  /** register + /login (protocol 2) + WebSocket + LOGIN_REQUEST of clients that reconnect on their own when dropped */
  | { type: 'fo-connect'; routeUrl: string; names: string[]; concurrency: number }
  /** open-loop private messages until 'fo-stop': sends[i] = [local client index, receiver userId] */
  | { type: 'fo-traffic'; sends: Array<[number, number]>; rate: number }
  | { type: 'fo-stop' }
  /** how many of this worker's clients are connected, and how many lost their connection */
  | { type: 'fo-status' }
  | { type: 'fo-collect' };

export interface FailoverResult {
  clients: number;
  /** per connection loss: [lost at, logged in again at (0 = not yet)], host clock ms */
  outages: Array<[number, number]>;
  /** the reconnecting clients' POST /login calls, whatever the answer */
  logins: HistogramMsg;
  /** answers of those calls by code ('9000', '7100', '5000', …; 'error' = no answer) */
  loginCodes: Record<string, number>;
  /** failed connects or handshakes after a granted login */
  connectFailures: number;
  /** failed reconnect attempts by reason (digits replaced by N) */
  attemptErrors: Record<string, number>;
  sent: number;
  /** MESSAGE_ACK 9000 (SENT: stored in the receiver's inbox) */
  acked: number;
  ackFailed: number;
  /** message slots with no connected sender in this worker */
  skipped: number;
  /** distinct messages received */
  received: number;
  duplicates: number;
  /** received frames marked replay (inbox pushed at login) */
  replayed: number;
  /** distinct messages first received by the drain's SYNC (replayed after it was sent) */
  syncRecovered: number;
  /** of those, sent within IN_FLIGHT_MS before the SYNC: their live push was still on its way */
  syncInFlight: number;
  /** [sender userId, message number] of the other SYNC-recovered messages: acknowledged or not, the summary tells */
  syncLate: Array<[number, number]>;
  latency: HistogramMsg;
  /** [sender userId, message numbers acknowledged SENT] */
  ackedIds: Array<[number, number[]]>;
  /** [sender userId, message numbers received] */
  receivedIds: Array<[number, number[]]>;
}

export type FailoverFromWorker =
  | { type: 'fo-connected'; users: Array<{ userId: number; server: string }>; errors: number; firstError?: string }
  | { type: 'fo-started' }
  | { type: 'fo-stopped'; sent: number }
  | { type: 'fo-status'; up: number; down: number; outages: number }
  | ({ type: 'fo-result' } & FailoverResult);
