/** CIM's TCP transport: varint32 length-prefixed protobuf frames (Netty-compatible). */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type SecureContextOptions } from 'node:tls';
import { FrameDecoder, FramingError } from '../../../common/src/framing.ts';
import type { AddressLimiter } from '../limits.ts';
import { TurnCork } from '../../../common/src/turn-cork.ts';
import type { EncodedFrame } from './encoded-frame.ts';
import type { SessionHost } from '../session-host.ts';
import type { Session, TransportPort } from '../session.ts';

const kSession = Symbol('cim.session');
const kDecoder = Symbol('cim.decoder');
/** A socket that carries its session and frame decoder, so that the shared listeners find them. */
type SessionSocket = Socket & { [kSession]: Session; [kDecoder]: FrameDecoder };

export interface TcpTransportOptions {
  readonly host: string;
  readonly port: number;
  readonly maxFrameBytes: number;
  /** connections per remote address, counted with the WebSocket transport's */
  readonly perAddress?: AddressLimiter;
  /** --tls-tcp: TLS around the same framing (a failed handshake never reaches a session) */
  readonly tls?: SecureContextOptions | undefined;
}

export class TcpTransport {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #opts: TcpTransportOptions;
  // One listener of each kind for every connection (`this` is the socket): an idle connection holds no closures of ours.
  readonly #onData: (this: SessionSocket, chunk: Buffer) => void;
  readonly #onClose: (this: SessionSocket) => void;

  constructor(node: SessionHost, options: TcpTransportOptions) {
    this.#opts = options;
    const sockets = this.#sockets;
    this.#onData = function (chunk) {
      const session = this[kSession];
      if (!session.open) return;
      let frames: Buffer[];
      try {
        frames = this[kDecoder].push(chunk);
      } catch (err) {
        node.reject(session, err instanceof FramingError && err.reason === 'oversize' ? 'oversize-frame' : 'bad-frame', (err as Error).message);
        this.destroy();
        return;
      }
      for (const frame of frames) node.frame(session, frame);
    };
    this.#onClose = function () {
      sockets.delete(this);
      node.closed(this[kSession]);
    };
    this.#server = options.tls
      ? createTlsServer({ ...options.tls, noDelay: true, keepAlive: true, handshakeTimeout: 10_000 }, (socket) => this.#accept(node, socket))
      : createServer({ noDelay: true, keepAlive: true }, (socket) => this.#accept(node, socket));
  }

  /** The tls.Server, for certificate reloads; undefined without TLS. */
  get tlsServer(): { setSecureContext(options: SecureContextOptions): void } | undefined {
    return this.#opts.tls ? (this.#server as unknown as { setSecureContext(options: SecureContextOptions): void }) : undefined;
  }

  #accept(node: SessionHost, socket: Socket): void {
    // Refused before any session exists: an address at its limit costs one accept and one close.
    if (this.#opts.perAddress && !this.#opts.perAddress.hold(socket)) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    const held = socket as SessionSocket;
    held[kSession] = node.open(new TcpPort(socket));
    held[kDecoder] = new FrameDecoder(this.#opts.maxFrameBytes);
    socket.on('data', this.#onData);
    socket.on('error', ignoreError); // 'close' follows; resets by peers are not our errors
    socket.on('close', this.#onClose);
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ host: this.#opts.host, port: this.#opts.port, backlog: 4096 }, () => {
        this.#server.off('error', reject);
        const addr = this.#server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : this.#opts.port);
      });
    });
  }

  /** Stops accepting; open connections stay until their sessions are closed. */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  get openSockets(): number {
    return this.#sockets.size;
  }

  destroyAll(): void {
    for (const s of this.#sockets) s.destroy();
  }
}

/** One TCP connection as the server core sees it. An object, not closures: idle connections stay small. */
class TcpPort implements TransportPort {
  readonly kind = 'tcp';
  readonly #socket: Socket;
  readonly #turn: TurnCork;

  constructor(socket: Socket) {
    this.#socket = socket;
    this.#turn = new TurnCork(socket);
  }

  get remoteAddress(): string {
    return `${this.#socket.remoteAddress}:${this.#socket.remotePort}`;
  }

  bufferedBytes(): number {
    return this.#socket.writableLength;
  }

  // A destroyed or ended socket drops the bytes: report it, so nothing counts as delivered.
  writeFrame(frame: EncodedFrame): boolean {
    if (this.#socket.destroyed || !this.#socket.writable) return false;
    this.#turn.cork();
    this.#socket.write(frame.tcp);
    return true;
  }

  close(): void {
    this.#socket.end();
    // A peer that never reads would keep a half-closed socket forever.
    setTimeout(destroy, 2000, this.#socket).unref();
  }

  pauseReading(): void {
    this.#socket.pause();
  }

  resumeReading(): void {
    this.#socket.resume();
  }
}

function ignoreError(): void {}

function destroy(socket: Socket): void {
  socket.destroy();
}
