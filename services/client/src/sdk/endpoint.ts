/**
 * What a connection to a cim-server is, and where it goes: the types both transports implement
 * (transport.ts on Node, transport-browser.ts in browsers) and the pure helpers that choose the URL —
 * straight to the server or through the route's relay (`via`). No Node or browser API here.
 */
import type { CimFrame } from '../../../common/src/codec.ts';
import { ClientErrorCode, CimClientError } from './errors.ts';

export type TransportKind = 'ws' | 'tcp';

/**
 * How a WebSocket reaches the server the route chose: `direct` to the address in the login grant,
 * `route` through the route's relay, `auto` through the relay only when the route is reached on a
 * loopback address (a port-forward) and the server's address is not loopback (a pod IP this machine
 * cannot route to), else direct. `auto` decides without dialing the server first.
 */
export type Via = 'auto' | 'direct' | 'route';
export const VIAS: readonly Via[] = ['auto', 'direct', 'route'];

export interface Connection {
  /** Writes one frame; returns false when the connection is no longer open (the frame is dropped). */
  send(frame: Partial<CimFrame>): boolean;
  /** Closes the connection; onClose is called (once) if it has not been already. */
  close(reason: string): void;
  /** ws://… or tcp://host:port, for logs and info(). */
  readonly remote: string;
}

export interface ConnectionHandlers {
  onFrame(frame: CimFrame): void;
  /** Called exactly once per opened connection, whoever closed it. */
  onClose(reason: string): void;
}

export interface ConnectOptions {
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  /** Largest frame accepted from the server (TCP); bigger ones close the connection. */
  readonly maxFrameBytes: number;
  /** Default 'direct'; 'auto' and 'route' need routeUrl. */
  readonly via?: Via;
  /** Base URL of cim-route (http or https), for the relay. */
  readonly routeUrl?: string;
  /** How TLS peers (wss://, TLS over TCP) are verified; Node only (a browser uses its own trust store). */
  readonly tls?: ClientTls;
}

/** The SDK's `ca` and `rejectUnauthorized` options. */
export interface ClientTls {
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>;
  readonly rejectUnauthorized: boolean;
}

export interface Endpoint {
  readonly ip: string;
  readonly cimServerPort: number;
  readonly httpPort: number;
  readonly wsPath: string;
  /** The route said the server speaks TLS on its HTTP port (wss://) … */
  readonly tls?: boolean;
  /** … and on its TCP port. */
  readonly tlsTcp?: boolean;
  /** The name its certificate is verified against instead of ip. */
  readonly tlsName?: string;
}

export function endpointUrl(kind: TransportKind, endpoint: Endpoint): string {
  const host = endpoint.ip.includes(':') ? `[${endpoint.ip}]` : endpoint.ip;
  if (kind === 'tcp') return `${endpoint.tlsTcp ? 'tls' : 'tcp'}://${host}:${endpoint.cimServerPort}`;
  const path = endpoint.wsPath.startsWith('/') ? endpoint.wsPath : `/${endpoint.wsPath}`;
  return `${endpoint.tls ? 'wss' : 'ws'}://${host}:${endpoint.httpPort}${path}`;
}

/** Validates a `via` option against the transport; throws INVALID_ARGUMENT. Default 'auto'. */
export function checkVia(via: unknown, kind: TransportKind): Via {
  if (via === undefined) return 'auto';
  if (typeof via !== 'string' || !(VIAS as readonly string[]).includes(via)) {
    throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, `via must be one of ${VIAS.join(', ')}, got ${String(via)}`);
  }
  if (via === 'route' && kind === 'tcp') {
    throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, 'via "route" relays WebSockets only; use transport "ws" (CIM\'s TCP framing needs a direct route to the server)');
  }
  return via as Via;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** localhost, 127.0.0.0/8, ::1 and IPv4-mapped 127.x: addresses that never leave this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost') || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return IPV4.test(v4) && v4.startsWith('127.');
}

/** Whether a WebSocket to `endpoint` goes through the route's relay (see Via). */
export function usesRelay(via: Via, routeUrl: string, endpoint: Endpoint): boolean {
  if (via !== 'auto') return via === 'route';
  return isLoopbackHost(new URL(routeUrl).hostname) && !isLoopbackHost(endpoint.ip);
}

/** ws(s)://<route>/relay?server=<ip:tcpPort:httpPort>: the server id as registered in ZooKeeper. */
export function relayUrl(routeUrl: string, endpoint: Endpoint): string {
  const url = new URL(routeUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/relay`;
  url.search = new URLSearchParams({ server: `${endpoint.ip}:${endpoint.cimServerPort}:${endpoint.httpPort}` }).toString();
  url.hash = '';
  return url.href;
}
