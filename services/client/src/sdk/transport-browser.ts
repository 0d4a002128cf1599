/**
 * transport.ts for browsers: the same exports, on the global WebSocket instead of `ws` and node:net.
 * scripts/build-web.mjs swaps it in for transport.ts when it bundles the SDK for the web client, so the
 * page runs the very client the CLI runs (login, heartbeat, reconnect, outbox, receipts) — only the
 * socket differs. TCP (CIM's framing) cannot exist in a browser and is refused.
 *
 * The types and the pure helpers are endpoint.ts's, shared with transport.ts.
 */
import { decodeMessage, encodeMessage, type CimFrame } from '../../../common/src/codec.ts';
import { ClientErrorCode, CimClientError } from './errors.ts';
import { endpointUrl, relayUrl, usesRelay, type Connection, type ConnectionHandlers, type ConnectOptions, type Endpoint, type TransportKind } from './endpoint.ts';

export { checkVia, endpointUrl, isLoopbackHost, relayUrl, usesRelay, VIAS } from './endpoint.ts';
export type { Connection, ConnectionHandlers, ConnectOptions, Endpoint, TransportKind, Via } from './endpoint.ts';

/** A browser verifies certificates with its own trust store: the SDK's `ca`/`rejectUnauthorized` are Node options. */
export function tlsFetch(): typeof fetch {
  throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, 'ca and rejectUnauthorized are Node options; a browser trusts the certificates its own trust store trusts');
}

export function openConnection(kind: TransportKind, endpoint: Endpoint, handlers: ConnectionHandlers, options: ConnectOptions): Promise<Connection> {
  if (kind === 'tcp') return Promise.reject(new CimClientError(ClientErrorCode.INVALID_ARGUMENT, 'a browser has no TCP sockets; use transport "ws"'));
  const via = options.via ?? 'direct';
  if (via !== 'direct' && options.routeUrl === undefined) {
    return Promise.reject(new CimClientError(ClientErrorCode.INVALID_ARGUMENT, `via "${via}" needs the route's URL`));
  }
  const url = options.routeUrl !== undefined && usesRelay(via, options.routeUrl, endpoint) ? relayUrl(options.routeUrl, endpoint) : endpointUrl('ws', endpoint);
  return openBrowserWs(url, handlers, options);
}

/** One outcome per connection, as in transport.ts: resolve once open, reject before that, onClose (once) after. */
function openBrowserWs(url: string, handlers: ConnectionHandlers, options: ConnectOptions): Promise<Connection> {
  return new Promise((resolve, reject) => {
    if (options.signal.aborted) return reject(options.signal.reason);
    let ws: WebSocket;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      return reject(new CimClientError(ClientErrorCode.CONNECT_FAILED, `WebSocket ${url}: ${(err as Error).message}`));
    }
    ws.binaryType = 'arraybuffer';
    let opened = false;
    let closed = false;
    const cleanup = (): void => {
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
    };
    // A browser WebSocket cannot be destroyed, only closed; its late events are ignored once `closed`.
    const drop = (): void => {
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close();
    };
    const finish = (reason: string): void => {
      if (closed) return;
      closed = true;
      cleanup();
      if (opened) handlers.onClose(reason);
      else reject(new CimClientError(ClientErrorCode.CONNECT_FAILED, `WebSocket ${url}: ${reason}`));
    };
    const fail = (err: unknown): void => {
      drop();
      if (opened || closed) return;
      closed = true;
      cleanup();
      reject(err);
    };
    const onAbort = (): void => fail(options.signal.reason);
    const timer = setTimeout(() => fail(new CimClientError(ClientErrorCode.TIMEOUT, `WebSocket ${url}: not connected within ${options.timeoutMs} ms`)), options.timeoutMs);
    options.signal.addEventListener('abort', onAbort, { once: true });
    const connection: Connection = {
      remote: url,
      send(frame: Partial<CimFrame>): boolean {
        if (closed || ws.readyState !== WebSocket.OPEN) return false;
        ws.send(encodeMessage(frame));
        return true;
      },
      close(reason: string): void {
        drop();
        finish(reason);
      },
    };
    ws.addEventListener('open', () => {
      if (closed) return;
      opened = true;
      cleanup();
      resolve(connection);
    });
    ws.addEventListener('message', (event: MessageEvent) => {
      if (closed) return;
      const data: unknown = event.data;
      if (!(data instanceof ArrayBuffer)) return connection.close('protocol error: text frame');
      if (data.byteLength > options.maxFrameBytes) return connection.close(`protocol error: frame of ${data.byteLength} bytes is over ${options.maxFrameBytes}`);
      let decoded: CimFrame;
      try {
        decoded = decodeMessage(new Uint8Array(data));
      } catch (err) {
        return connection.close(`protocol error: ${(err as Error).message}`);
      }
      handlers.onFrame(decoded);
    });
    // 'error' carries no detail in browsers; the 'close' that always follows says what happened.
    ws.addEventListener('error', () => undefined);
    ws.addEventListener('close', (event: CloseEvent) => finish(`closed by server (${event.code}${event.reason ? ` ${event.reason}` : ''})`));
  });
}
