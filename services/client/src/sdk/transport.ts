/**
 * The two ways to reach a cim-server, behind one small interface: WebSocket (one protobuf `Request` per
 * binary frame, the default) and TCP (varint32 length prefix + protobuf, CIM's own transport).
 * A WebSocket goes either straight to the server or through the route's relay (`/relay?server=id`),
 * which is what makes one `kubectl port-forward` of the route enough (see `via`).
 * A Connection only moves frames; login, heartbeat and reconnect live in client.ts.
 */
import { isIPv4, connect as netConnect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { decodeMessage, encodeMessage, encodeTcpFrame, type CimFrame } from '../../../common/src/codec.ts';
import { FrameDecoder } from '../../../common/src/framing.ts';
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
}

export interface Endpoint {
  readonly ip: string;
  readonly cimServerPort: number;
  readonly httpPort: number;
  readonly wsPath: string;
}

export function endpointUrl(kind: TransportKind, endpoint: Endpoint): string {
  const host = endpoint.ip.includes(':') ? `[${endpoint.ip}]` : endpoint.ip;
  if (kind === 'tcp') return `tcp://${host}:${endpoint.cimServerPort}`;
  const path = endpoint.wsPath.startsWith('/') ? endpoint.wsPath : `/${endpoint.wsPath}`;
  return `ws://${host}:${endpoint.httpPort}${path}`;
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

/** localhost, 127.0.0.0/8, ::1 and IPv4-mapped 127.x: addresses that never leave this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost') || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIPv4(v4) && v4.startsWith('127.');
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

/** Opens a connection; resolves once it is open, rejects with CONNECT_FAILED / TIMEOUT, or the signal's reason. */
export function openConnection(kind: TransportKind, endpoint: Endpoint, handlers: ConnectionHandlers, options: ConnectOptions): Promise<Connection> {
  const via = options.via ?? 'direct';
  if (kind === 'tcp') {
    try {
      checkVia(via, kind);
    } catch (err) {
      return Promise.reject(err);
    }
    return openTcp(endpoint, handlers, options);
  }
  if (via !== 'direct' && options.routeUrl === undefined) {
    return Promise.reject(new CimClientError(ClientErrorCode.INVALID_ARGUMENT, `via "${via}" needs the route's URL`));
  }
  const url = options.routeUrl !== undefined && usesRelay(via, options.routeUrl, endpoint) ? relayUrl(options.routeUrl, endpoint) : endpointUrl('ws', endpoint);
  return openWs(url, handlers, options);
}

/** What a transport gives the shared lifecycle: how to write a frame and how to drop the socket. */
interface RawSocket {
  /** false when the socket can no longer take bytes */
  write(frame: Partial<CimFrame>): boolean;
  destroy(): void;
}

/**
 * Connect/close bookkeeping shared by both transports: exactly one outcome per connection (resolve once
 * open, reject before that, onClose after), abort handling, and protocol errors closing the connection.
 */
function connectionLifecycle(
  label: string,
  url: string,
  raw: RawSocket,
  handlers: ConnectionHandlers,
  options: ConnectOptions,
  settle: { resolve(c: Connection): void; reject(err: unknown): void; onSettled?: () => void },
) {
  let opened = false;
  let closed = false;
  const finish = (reason: string): void => {
    if (closed) return;
    closed = true;
    settle.onSettled?.();
    options.signal.removeEventListener('abort', onAbort);
    if (opened) handlers.onClose(reason);
    else settle.reject(new CimClientError(ClientErrorCode.CONNECT_FAILED, `${label} ${url}: ${reason}`));
  };
  /** Rejects a connection that never opened (abort, timeout); a no-op once it opened or ended. */
  const fail = (err: unknown): void => {
    raw.destroy();
    if (opened || closed) return;
    closed = true;
    settle.onSettled?.();
    options.signal.removeEventListener('abort', onAbort);
    settle.reject(err);
  };
  const onAbort = (): void => fail(options.signal.reason);
  const connection: Connection = {
    remote: url,
    send: (frame) => !closed && raw.write(frame),
    close(reason) {
      raw.destroy();
      finish(reason);
    },
  };
  return {
    connection,
    get closed() {
      return closed;
    },
    /** Watches the abort signal; false when it already fired (the promise is rejected). */
    watchAbort(): boolean {
      if (options.signal.aborted) {
        onAbort();
        return false;
      }
      options.signal.addEventListener('abort', onAbort, { once: true });
      return true;
    },
    opened(): void {
      opened = true;
      settle.onSettled?.();
      settle.resolve(connection);
    },
    fail,
    finish,
    /** Decodes one protobuf body and hands it on; undecodable bytes close the connection. */
    deliver(bytes: Buffer): void {
      if (closed) return;
      let frame: CimFrame;
      try {
        frame = decodeMessage(bytes);
      } catch (err) {
        connection.close(`protocol error: ${(err as Error).message}`);
        return;
      }
      handlers.onFrame(frame);
    },
  };
}

function openWs(url: string, handlers: ConnectionHandlers, options: ConnectOptions): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: options.timeoutMs, perMessageDeflate: false, maxPayload: options.maxFrameBytes });
    ws.binaryType = 'nodebuffer';
    const life = connectionLifecycle(
      'WebSocket',
      url,
      {
        write(frame) {
          if (ws.readyState !== WebSocket.OPEN) return false;
          ws.send(encodeMessage(frame));
          return true;
        },
        // terminate(), not close(): a half-open peer would never answer the closing handshake.
        destroy: () => ws.terminate(),
      },
      handlers,
      options,
      { resolve, reject },
    );
    if (!life.watchAbort()) return;
    ws.on('open', () => life.opened());
    ws.on('message', (data, isBinary) => {
      if (life.closed) return;
      if (!isBinary) return life.connection.close('protocol error: text frame');
      life.deliver(toBuffer(data));
    });
    ws.on('error', (err) => life.finish(err.message));
    ws.on('close', (code, reason) => life.finish(`closed by server (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`));
  });
}

function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function openTcp(endpoint: Endpoint, handlers: ConnectionHandlers, options: ConnectOptions): Promise<Connection> {
  const url = endpointUrl('tcp', endpoint);
  return new Promise((resolve, reject) => {
    const socket: Socket = netConnect({ host: endpoint.ip, port: endpoint.cimServerPort, noDelay: true });
    const decoder = new FrameDecoder(options.maxFrameBytes);
    const timer = setTimeout(
      () => life.fail(new CimClientError(ClientErrorCode.TIMEOUT, `TCP ${url}: not connected within ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    const life = connectionLifecycle(
      'TCP',
      url,
      {
        write(frame) {
          if (socket.destroyed) return false;
          socket.write(encodeTcpFrame(frame));
          return true;
        },
        destroy: () => socket.destroy(),
      },
      handlers,
      options,
      { resolve, reject, onSettled: () => clearTimeout(timer) },
    );
    if (!life.watchAbort()) return;
    socket.on('connect', () => life.opened());
    socket.on('data', (chunk: Buffer) => {
      if (life.closed) return;
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        life.connection.close(`protocol error: ${(err as Error).message}`);
        return;
      }
      for (const bytes of frames) life.deliver(bytes);
    });
    socket.on('error', (err) => life.finish(err.message));
    socket.on('close', () => life.finish('closed by server'));
  });
}
