/**
 * The two ways to reach a cim-server, behind one small interface: WebSocket (one protobuf `Request` per
 * binary frame, the default) and TCP (varint32 length prefix + protobuf, CIM's own transport).
 * A WebSocket goes either straight to the server or through the route's relay (`/relay?server=id`),
 * which is what makes one `kubectl port-forward` of the route enough (see `via`).
 * A Connection only moves frames; login, heartbeat and reconnect live in client.ts.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { WebSocket } from 'ws';
import { decodeMessage, encodeMessage, encodeTcpFrame, type CimFrame } from '../../../common/src/codec.ts';
import { FrameDecoder } from '../../../common/src/framing.ts';
import { certificateProblem, ClientErrorCode, CimClientError } from './errors.ts';
import { checkVia, endpointUrl, relayUrl, usesRelay, type Connection, type ConnectionHandlers, type ConnectOptions, type Endpoint, type TransportKind } from './endpoint.ts';

export { checkVia, endpointUrl, isLoopbackHost, relayUrl, usesRelay, VIAS } from './endpoint.ts';
export type { ClientTls, Connection, ConnectionHandlers, ConnectOptions, Endpoint, TransportKind, Via } from './endpoint.ts';
export { tlsFetch } from './tls-fetch.ts';

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
  const relayed = options.routeUrl !== undefined && usesRelay(via, options.routeUrl, endpoint);
  const url = relayed ? relayUrl(options.routeUrl!, endpoint) : endpointUrl('ws', endpoint);
  // Direct: the server's certificate is checked against the name the route gave (else its ip); relayed: the route's.
  return openWs(url, handlers, options, relayed ? undefined : endpoint.tlsName);
}

/** TLS options of a client socket: the caller's CA and strictness, and the name to verify. */
function tlsOptions(options: ConnectOptions, servername: string | undefined) {
  const tls = options.tls;
  return {
    ...(tls?.ca !== undefined ? { ca: tls.ca as string | Buffer | Array<string | Buffer> } : {}),
    ...(tls?.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
    ...(servername ? { servername } : {}),
  };
}

/** A refused certificate rejects with TLS_UNTRUSTED (not retried: the same CA fails again); anything else is a closed connection. */
function onSocketError(life: { fail(err: unknown): void; finish(reason: string): void; readonly isOpen: boolean }, label: string, url: string, err: Error): void {
  const tls = life.isOpen ? undefined : certificateProblem(err);
  if (tls) life.fail(new CimClientError(ClientErrorCode.TLS_UNTRUSTED, `${label} ${url}: ${tls}`, { cause: err }));
  else life.finish(err.message);
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
    get isOpen() {
      return opened;
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

function openWs(url: string, handlers: ConnectionHandlers, options: ConnectOptions, servername?: string): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: options.timeoutMs, perMessageDeflate: false, maxPayload: options.maxFrameBytes, ...(url.startsWith('wss:') ? tlsOptions(options, servername) : {}) });
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
    ws.on('error', (err) => onSocketError(life, 'WebSocket', url, err));
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
    // tlsTcp: the server said its TCP port speaks TLS (--tls-tcp); the framing inside is the same.
    const socket: Socket = endpoint.tlsTcp
      ? tlsConnect({ host: endpoint.ip, port: endpoint.cimServerPort, ...tlsOptions(options, endpoint.tlsName) }).setNoDelay(true)
      : netConnect({ host: endpoint.ip, port: endpoint.cimServerPort, noDelay: true });
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
    socket.on(endpoint.tlsTcp ? 'secureConnect' : 'connect', () => life.opened());
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
    socket.on('error', (err) => onSocketError(life, 'TCP', url, err));
    socket.on('close', () => life.finish('closed by server'));
  });
}
