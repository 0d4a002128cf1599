/**
 * The two ways to reach a cim-server, behind one small interface: WebSocket (one protobuf `Request` per
 * binary frame, the default) and TCP (varint32 length prefix + protobuf, CIM's own transport).
 * A Connection only moves frames; login, heartbeat and reconnect live in client.ts.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { decodeMessage, encodeMessage, encodeTcpFrame, type CimFrame } from '../../../common/src/codec.ts';
import { FrameDecoder } from '../../../common/src/framing.ts';
import { ClientErrorCode, CimClientError } from './errors.ts';

export type TransportKind = 'ws' | 'tcp';

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

/** Opens a connection; resolves once it is open, rejects with CONNECT_FAILED / TIMEOUT, or the signal's reason. */
export function openConnection(kind: TransportKind, endpoint: Endpoint, handlers: ConnectionHandlers, options: ConnectOptions): Promise<Connection> {
  return kind === 'tcp' ? openTcp(endpoint, handlers, options) : openWs(endpoint, handlers, options);
}

function openWs(endpoint: Endpoint, handlers: ConnectionHandlers, options: ConnectOptions): Promise<Connection> {
  const url = endpointUrl('ws', endpoint);
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: options.timeoutMs, perMessageDeflate: false, maxPayload: options.maxFrameBytes });
    ws.binaryType = 'nodebuffer';
    let opened = false;
    let closed = false;
    const finish = (reason: string): void => {
      if (closed) return;
      closed = true;
      options.signal.removeEventListener('abort', onAbort);
      if (opened) handlers.onClose(reason);
      else reject(new CimClientError(ClientErrorCode.CONNECT_FAILED, `WebSocket ${url}: ${reason}`));
    };
    const onAbort = (): void => {
      ws.terminate();
      if (!opened && !closed) {
        closed = true;
        reject(options.signal.reason);
      }
    };
    if (options.signal.aborted) {
      onAbort();
      return;
    }
    options.signal.addEventListener('abort', onAbort, { once: true });
    const connection: Connection = {
      remote: url,
      send(frame) {
        if (closed || ws.readyState !== WebSocket.OPEN) return false;
        ws.send(encodeMessage(frame));
        return true;
      },
      close(reason) {
        // terminate(), not close(): a half-open peer would never answer the closing handshake.
        ws.terminate();
        finish(reason);
      },
    };
    ws.on('open', () => {
      opened = true;
      resolve(connection);
    });
    ws.on('message', (data, isBinary) => {
      if (closed) return;
      if (!isBinary) {
        connection.close('protocol error: text frame');
        return;
      }
      let frame: CimFrame;
      try {
        frame = decodeMessage(toBuffer(data));
      } catch (err) {
        connection.close(`protocol error: ${(err as Error).message}`);
        return;
      }
      handlers.onFrame(frame);
    });
    ws.on('error', (err) => finish(err.message));
    ws.on('close', (code, reason) => finish(`closed by server (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`));
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
    let opened = false;
    let closed = false;
    const timer = setTimeout(() => {
      socket.destroy();
      if (!closed) {
        closed = true;
        reject(new CimClientError(ClientErrorCode.TIMEOUT, `TCP ${url}: not connected within ${options.timeoutMs} ms`));
      }
    }, options.timeoutMs);
    const finish = (reason: string): void => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      if (opened) handlers.onClose(reason);
      else reject(new CimClientError(ClientErrorCode.CONNECT_FAILED, `TCP ${url}: ${reason}`));
    };
    const onAbort = (): void => {
      socket.destroy();
      if (!opened && !closed) {
        closed = true;
        clearTimeout(timer);
        reject(options.signal.reason);
      }
    };
    if (options.signal.aborted) {
      onAbort();
      return;
    }
    options.signal.addEventListener('abort', onAbort, { once: true });
    const connection: Connection = {
      remote: url,
      send(frame) {
        if (closed || socket.destroyed) return false;
        socket.write(encodeTcpFrame(frame));
        return true;
      },
      close(reason) {
        socket.destroy();
        finish(reason);
      },
    };
    socket.on('connect', () => {
      clearTimeout(timer);
      opened = true;
      resolve(connection);
    });
    socket.on('data', (chunk: Buffer) => {
      if (closed) return;
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        connection.close(`protocol error: ${(err as Error).message}`);
        return;
      }
      for (const bytes of frames) {
        if (closed) return;
        let frame: CimFrame;
        try {
          frame = decodeMessage(bytes);
        } catch (err) {
          connection.close(`protocol error: ${(err as Error).message}`);
          return;
        }
        handlers.onFrame(frame);
      }
    });
    socket.on('error', (err) => finish(err.message));
    socket.on('close', () => finish('closed by server'));
  });
}
