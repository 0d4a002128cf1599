/**
 * WebSocket relay: `GET /relay?server=<host:tcpPort:httpPort>` on the route's HTTP port, relayed
 * byte-for-byte to `ws://<host>:<httpPort><wsPath>` of that cim-server. It exists so that one
 * `kubectl port-forward` of the route is enough to chat: the server's pod IP is not reachable from the
 * user's machine, the route is. Only servers in the route's current ZooKeeper list are relayed (never an
 * open proxy); the target path is the one the server registered, never the client's.
 *
 * Order: the client's handshake completes first and the client side is paused while the server side is
 * dialed, so every refusal reaches the client as a close code with a readable reason (1008 unknown
 * server, 1013 relay full, 1014 server unreachable) instead of a bare HTTP status. Messages, pings and
 * pongs pass through unchanged in both directions; a close on one side closes the other with the same
 * code and reason (an abnormal 1006 becomes a dropped connection on the other side too).
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { Counter, Gauge, type Registry } from 'prom-client';
import { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../../common/src/log.ts';
import type { MetaStore } from '../../common/src/meta-store/types.ts';
import { parseServerAddress } from '../../common/src/server-address.ts';

export const RELAY_PATH = '/relay';

export interface RelayOptions {
  /** Relayed connections (including those still dialing) before new ones are refused with 1013. */
  readonly maxConnections: number;
  /** Largest message accepted from either side; bigger closes the pair with 1009. */
  readonly maxFrameBytes: number;
  /** ms to open the server side before the client is closed with 1014. */
  readonly connectTimeoutMs: number;
  /** A side's unsent backlog above which the other side is paused (backpressure). Default 1 MiB. */
  readonly highWaterBytes?: number;
  /** CA that verifies servers speaking TLS (their ZooKeeper data says so); default: the system CAs. */
  readonly serverTlsCa?: Buffer | undefined;
}

/** Close codes of refusals; the reasons say which rule refused. */
export const RELAY_CLOSE = { unknownServer: 1008, full: 1013, unreachable: 1014, shutdown: 1001 } as const;

const REFUSALS = ['unknown_server', 'full', 'unreachable'] as const;
type Refusal = (typeof REFUSALS)[number];
const DIRECTIONS = ['client_to_server', 'server_to_client'] as const;
type Direction = (typeof DIRECTIONS)[number];

export function createRelayMetrics(registry: Registry) {
  const registers = [registry];
  const m = {
    connections: new Gauge({ name: 'cim_route_relay_connections', help: 'WebSocket connections relayed to cim-servers right now', registers }),
    bytes: new Counter({ name: 'cim_route_relay_bytes_total', help: 'Message bytes relayed, by direction', labelNames: ['direction'] as const, registers }),
    refused: new Counter({ name: 'cim_route_relay_refused_total', help: 'Relay connections refused, by reason', labelNames: ['reason'] as const, registers }),
    paused: new Counter({ name: 'cim_route_relay_paused_total', help: 'Times a side was paused because the other side had a large unsent backlog, by direction', labelNames: ['direction'] as const, registers }),
  };
  for (const d of DIRECTIONS) (m.bytes.inc({ direction: d }, 0), m.paused.inc({ direction: d }, 0));
  for (const r of REFUSALS) m.refused.inc({ reason: r }, 0);
  return m;
}

export type RelayMetrics = ReturnType<typeof createRelayMetrics>;

/** Codes a close frame may carry (RFC 6455 §7.4); 1005/1006/1015 only ever describe what happened. */
export function isSendableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** Close reasons are limited to 123 bytes of UTF-8. */
function reasonText(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length <= 123 ? text : bytes.subarray(0, 120).toString('utf8').replace(/\uFFFD$/, '') + '...';
}

export class WsRelay {
  readonly #wss: WebSocketServer;
  readonly #meta: Pick<MetaStore, 'servers'>;
  readonly #metrics: RelayMetrics;
  readonly #log: Logger;
  readonly #o: Required<Omit<RelayOptions, 'serverTlsCa'>> & Pick<RelayOptions, 'serverTlsCa'>;
  /** Every client side, from accept to close; its size is what maxConnections bounds. */
  readonly #pairs = new Map<WebSocket, WebSocket | undefined>();
  #http: HttpServer | undefined;
  #onUpgrade: ((req: IncomingMessage, socket: Duplex, head: Buffer) => void) | undefined;
  #closed = false;

  constructor(meta: Pick<MetaStore, 'servers'>, metrics: RelayMetrics, log: Logger, options: RelayOptions) {
    this.#meta = meta;
    this.#metrics = metrics;
    this.#log = log;
    this.#o = { highWaterBytes: 1024 * 1024, ...options };
    // autoPong off: the server's pongs are relayed, not invented here. Deflate off: bytes stay as sent.
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: options.maxFrameBytes, perMessageDeflate: false, clientTracking: false, autoPong: false });
  }

  get connections(): number {
    return this.#pairs.size;
  }

  attach(http: HttpServer): void {
    this.#http = http;
    this.#onUpgrade = (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://relay');
      if (url.pathname !== RELAY_PATH || this.#closed) {
        socket.end(`HTTP/1.1 ${this.#closed ? '503 Service Unavailable' : '404 Not Found'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
        return;
      }
      socket.on('error', () => undefined); // a reset during the handshake is the client's business
      this.#wss.handleUpgrade(req, socket, head, (client) => this.#accept(client, url.searchParams.get('server') ?? '', req));
    };
    http.on('upgrade', this.#onUpgrade);
  }

  #accept(client: WebSocket, serverId: string, req: IncomingMessage): void {
    if (this.#pairs.size >= this.#o.maxConnections) {
      const text = this.#o.maxConnections === 0 ? 'relay: turned off on this route (--relay-max-connections 0)' : `relay: ${this.#o.maxConnections} connections already relayed, try again later`;
      this.#refuse(client, 'full', RELAY_CLOSE.full, text);
      return;
    }
    const target = parseServerAddress(serverId) ? this.#meta.servers().find((s) => s.id === serverId) : undefined;
    if (!target) {
      this.#refuse(client, 'unknown_server', RELAY_CLOSE.unknownServer, `relay: ${JSON.stringify(serverId.slice(0, 60))} is not a live cim-server`);
      return;
    }
    const host = target.host.includes(':') ? `[${target.host}]` : target.host;
    const wsPath = target.data?.wsPath.startsWith('/') ? target.data.wsPath : '/ws';
    // A server that published `tls` is dialed with wss:// and verified (against its published name, else its address).
    const tls = target.data?.tls;
    const upstreamUrl = `${tls ? 'wss' : 'ws'}://${host}:${target.httpPort}${wsPath}`;
    // The client waits (paused) until the server side is open, so nothing it sends is lost or reordered.
    client.pause();
    this.#pairs.set(client, undefined);
    this.#metrics.connections.inc();
    const forwardedFor = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ');
    const upstream = new WebSocket(upstreamUrl, {
      perMessageDeflate: false,
      maxPayload: this.#o.maxFrameBytes,
      handshakeTimeout: this.#o.connectTimeoutMs,
      autoPong: false,
      headers: forwardedFor ? { 'x-forwarded-for': forwardedFor } : {},
      ...(tls && this.#o.serverTlsCa ? { ca: this.#o.serverTlsCa } : {}),
      ...(tls?.name ? { servername: tls.name } : {}),
    });
    this.#pairs.set(client, upstream);
    const log = this.#log.child({ relay: serverId, client: `${req.socket.remoteAddress}:${req.socket.remotePort}` });
    let opened = false;
    upstream.on('open', () => {
      opened = true;
      log.debug('relay open');
      if (client.readyState === WebSocket.OPEN) client.resume();
    });
    upstream.on('error', (err) => {
      // After open, or after the client left (terminate() while dialing errors too): 'close' handles it.
      if (opened || client.readyState !== WebSocket.OPEN) return log.debug({ err: err.message }, 'relay server side error');
      log.warn({ err: err.message, url: upstreamUrl }, 'relay: server unreachable');
      this.#metrics.refused.inc({ reason: 'unreachable' });
      client.resume(); // what it sent meanwhile is dropped (no server side), and its close reply is read
      closeWithin(client, RELAY_CLOSE.unreachable, reasonText(`relay: server ${serverId} unreachable: ${err.message}`));
    });
    client.on('error', (err) => log.debug({ err: err.message }, 'relay client side error'));
    this.#pipe(client, upstream, 'client_to_server');
    this.#pipe(upstream, client, 'server_to_client');
    client.on('close', (code, reason) => {
      this.#pairs.delete(client);
      this.#metrics.connections.dec();
      forwardClose(upstream, code, reason);
    });
    upstream.on('close', (code, reason) => {
      // Before open, the error handler already told the client why.
      if (opened) forwardClose(client, code, reason);
    });
  }

  /** Messages, pings and pongs from `from` to `to`, pausing `from` while `to` has a large backlog. */
  #pipe(from: WebSocket, to: WebSocket, direction: Direction): void {
    const high = this.#o.highWaterBytes;
    const onFlushed = (): void => {
      if (from.isPaused && from.readyState === WebSocket.OPEN && to.bufferedAmount <= high / 4) from.resume();
    };
    from.on('message', (data, isBinary) => {
      if (to.readyState !== WebSocket.OPEN) return;
      const body = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      this.#metrics.bytes.inc({ direction }, body.length);
      to.send(body, { binary: isBinary }, onFlushed);
      if (to.bufferedAmount > high && !from.isPaused) {
        from.pause();
        this.#metrics.paused.inc({ direction });
      }
    });
    from.on('ping', (data) => {
      if (to.readyState === WebSocket.OPEN) to.ping(data);
    });
    from.on('pong', (data) => {
      if (to.readyState === WebSocket.OPEN) to.pong(data);
    });
  }

  #refuse(client: WebSocket, reason: Refusal, code: number, text: string): void {
    this.#metrics.refused.inc({ reason });
    this.#log.info({ reason }, text);
    client.on('error', () => undefined);
    closeWithin(client, code, reasonText(text));
  }

  /** Stops accepting and closes every relayed pair with 1001 (clients log in again elsewhere). */
  close(): void {
    this.#closed = true;
    if (this.#http && this.#onUpgrade) this.#http.off('upgrade', this.#onUpgrade);
    for (const [client, upstream] of this.#pairs) {
      closeWithin(client, RELAY_CLOSE.shutdown, 'route shutting down');
      if (upstream) forwardClose(upstream, RELAY_CLOSE.shutdown, Buffer.from('route shutting down'));
    }
    this.#wss.close();
  }
}

/** Closes `to` the way the other side was closed. */
function forwardClose(to: WebSocket, code: number, reason: Buffer): void {
  if (to.readyState === WebSocket.CLOSED) return;
  // Abnormal (no close frame) or still dialing: drop the connection, so the peer sees 1006 too.
  if (code === 1006 || to.readyState === WebSocket.CONNECTING) {
    to.terminate();
    return;
  }
  if (to.readyState === WebSocket.CLOSING) return;
  if (isSendableCloseCode(code)) closeWithin(to, code, reason.toString('utf8'));
  else closeWithin(to, undefined, '');
}

/** Starts the closing handshake, then drops the socket if the peer does not finish it in time. */
function closeWithin(ws: WebSocket, code: number | undefined, reason: string): void {
  if (ws.readyState === WebSocket.CLOSED || ws.readyState === WebSocket.CLOSING) return;
  if (code === undefined) ws.close();
  else ws.close(code, reason);
  setTimeout(() => ws.terminate(), 2000).unref();
}
