/**
 * WebSocket transport on the server's HTTP port: one protobuf body per binary frame. `ws` runs in
 * noServer mode on fastify's HTTP server, so the upgrade path is ours and HTTP keeps its port.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { AddressLimiter } from '../limits.ts';
import { TurnCork } from '../../../common/src/turn-cork.ts';
import type { EncodedFrame } from './encoded-frame.ts';
import type { SessionHost } from '../session-host.ts';
import type { Session, TransportPort } from '../session.ts';

const kSession = Symbol('cim.session');
/** A WebSocket that carries its session, so that the shared listeners find it. */
type SessionSocket = WebSocket & { [kSession]: Session };

export class WsTransport {
  readonly #wss: WebSocketServer;
  readonly #path: string;
  #accepting = true;
  #onUpgrade: ((req: IncomingMessage, socket: Duplex, head: Buffer) => void) | undefined;
  #http: HttpServer | undefined;
  readonly #perAddress: AddressLimiter | undefined;
  readonly #allowedOrigins: ReadonlySet<string> | undefined;
  readonly #node: SessionHost;
  /** Open connections; kept here rather than by ws (clientTracking), whose tracking adds a closure to each. */
  readonly #open = new Set<SessionSocket>();
  // One listener of each kind for every connection (`this` is the WebSocket): an idle connection holds no closures of ours.
  readonly #onMessage: (this: WebSocket, data: RawData, isBinary: boolean) => void;
  readonly #onError: (this: WebSocket, err: Error) => void;
  readonly #onClose: (this: WebSocket) => void;

  constructor(node: SessionHost, options: { path: string; maxFrameBytes: number; perAddress?: AddressLimiter; allowedOrigins?: readonly string[] }) {
    this.#node = node;
    const open = this.#open;
    this.#onMessage = function (data, isBinary) {
      const session = (this as SessionSocket)[kSession];
      if (!session.open) return;
      if (!isBinary) {
        node.reject(session, 'bad-frame', 'text frames are not part of the protocol; send binary protobuf');
        return;
      }
      // ws hands over a Buffer of its own (binaryType nodebuffer): used as it is, not copied.
      const body = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      node.frame(session, body);
    };
    this.#onError = function (err) {
      // ws reports oversize (1009) and protocol errors here and then closes the socket.
      const oversize = (err as { code?: string }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';
      node.reject((this as SessionSocket)[kSession], oversize ? 'oversize-frame' : 'bad-frame', err.message);
    };
    this.#onClose = function () {
      open.delete(this as SessionSocket);
      node.closed((this as SessionSocket)[kSession]);
    };
    this.#path = options.path;
    this.#allowedOrigins = options.allowedOrigins?.length ? new Set(options.allowedOrigins.map((o) => o.toLowerCase())) : undefined;
    this.#perAddress = options.perAddress;
    // permessage-deflate stays off: it costs ~20x the memory per connection for small messages.
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: options.maxFrameBytes, perMessageDeflate: false, clientTracking: false });
    this.#wss.on('connection', (ws: WebSocket, req: IncomingMessage) => this.#accept(ws, req));
  }

  /** `other`: upgrades for other paths on the same port (the push link); returns true when it took the request. */
  attach(http: HttpServer, other?: (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean): void {
    this.#http = http;
    this.#onUpgrade = (req, socket, head) => {
      if (other?.(req, socket, head)) return;
      const path = (req.url ?? '').split('?')[0];
      if (!this.#accepting || path !== this.#path) {
        socket.end(`HTTP/1.1 ${this.#accepting ? '404 Not Found' : '503 Service Unavailable'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
        return;
      }
      // --allowed-origins: a browser always sends Origin; a page of another site is refused. Non-browser clients send none.
      const origin = req.headers.origin;
      if (this.#allowedOrigins && origin !== undefined && !this.#allowedOrigins.has(origin.toLowerCase())) {
        socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      // Counted from the upgrade request to the end of the socket, whatever happens in between.
      if (this.#perAddress && !this.#perAddress.hold(req.socket)) {
        socket.end('HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#wss.emit('connection', ws, req));
    };
    http.on('upgrade', this.#onUpgrade);
  }

  #accept(ws: WebSocket, req: IncomingMessage): void {
    const socket = ws as SessionSocket;
    socket[kSession] = this.#node.open(new WsPort(ws, req.socket));
    this.#open.add(socket);
    ws.on('message', this.#onMessage);
    ws.on('error', this.#onError);
    ws.on('close', this.#onClose);
  }

  stopAccepting(): void {
    this.#accepting = false;
  }

  get openSockets(): number {
    return this.#open.size;
  }

  close(): void {
    for (const ws of this.#open) ws.terminate();
    if (this.#http && this.#onUpgrade) this.#http.off('upgrade', this.#onUpgrade);
    this.#wss.close();
  }
}

/** One WebSocket connection as the server core sees it. An object, not closures: idle connections stay small. */
class WsPort implements TransportPort {
  readonly kind = 'ws';
  readonly #ws: WebSocket;
  // Frames are written to the upgraded socket (ws's own close frames too), so corking it batches this turn's.
  readonly #socket: Socket;
  readonly #turn: TurnCork;

  constructor(ws: WebSocket, socket: Socket) {
    this.#ws = ws;
    this.#socket = socket;
    this.#turn = new TurnCork(socket);
  }

  get remoteAddress(): string {
    return `${this.#socket.remoteAddress}:${this.#socket.remotePort}`;
  }

  bufferedBytes(): number {
    return this.#ws.bufferedAmount;
  }

  // The frame is framed once for every socket it goes to (encoded-frame.ts) and written as it is: ws
  // sends nothing of its own between data frames (no compression), and closes through ws.close below.
  writeFrame(frame: EncodedFrame): boolean {
    if (this.#ws.readyState !== this.#ws.OPEN || this.#socket.destroyed) return false;
    this.#turn.cork();
    this.#socket.write(frame.ws);
    return true;
  }

  // The close code is the catalogue's (services/common/src/codes.ts), the same number as GOAWAY's.
  close(code: number, reason: string): void {
    this.#ws.close(code, reason);
    // Do not wait forever for a peer that never answers the close handshake.
    setTimeout(terminate, 2000, this.#ws).unref();
  }

  pauseReading(): void {
    this.#ws.pause();
  }

  resumeReading(): void {
    this.#ws.resume();
  }
}

function terminate(ws: WebSocket): void {
  ws.terminate();
}
