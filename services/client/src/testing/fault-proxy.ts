/**
 * A byte-level TCP proxy in front of one real port (a cim-server's, Redis's), for faults a healthy peer never
 * makes: drop every connection at once (no GOAWAY, like a crashed process or a cut cable), go mute (connections
 * stay open, nothing passes: a half-open peer), stall (nothing passes until released, then everything does: a
 * store that stops answering for a while), or refuse connections (a dead address the route still offers).
 * WebSocket, CIM's TCP framing and RESP all pass through unchanged. Loopback only.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { decodeMessage, type CimFrame } from '../../../common/src/codec.ts';
import { FrameDecoder } from '../../../common/src/framing.ts';

export class FaultProxy {
  readonly #target: number;
  readonly #server: Server;
  readonly #pairs = new Set<[Socket, Socket]>();
  /** Client→server frames seen on a TCP-framed port (decodeTcp), oldest first. */
  readonly received: CimFrame[] = [];
  readonly #decodeTcp: boolean;
  #port = 0;
  muted = false;
  #stalled = false;
  #killed = false;

  private constructor(targetPort: number, decodeTcp: boolean) {
    this.#target = targetPort;
    this.#decodeTcp = decodeTcp;
    this.#server = createServer((client) => this.#accept(client));
  }

  /** Starts a proxy on 127.0.0.1:<free port> to 127.0.0.1:targetPort. */
  static async start(targetPort: number, options: { decodeTcp?: boolean } = {}): Promise<FaultProxy> {
    const proxy = new FaultProxy(targetPort, options.decodeTcp ?? false);
    await new Promise<void>((resolve, reject) => {
      proxy.#server.once('error', reject);
      proxy.#server.listen(0, '127.0.0.1', () => resolve());
    });
    proxy.#port = (proxy.#server.address() as { port: number }).port;
    return proxy;
  }

  get port(): number {
    return this.#port;
  }

  get connections(): number {
    return this.#pairs.size;
  }

  /** Destroys every proxied connection, both sides (the server and the client see a reset). */
  dropAll(): void {
    for (const [a, b] of this.#pairs) {
      a.destroy();
      b.destroy();
    }
    this.#pairs.clear();
  }

  /** Holds every byte both ways, on open and new connections, until release(); unlike muted, nothing is lost. */
  stall(): void {
    this.#stalled = true;
    for (const pair of this.#pairs) for (const s of pair) s.pause();
  }

  release(): void {
    this.#stalled = false;
    for (const pair of this.#pairs) for (const s of pair) s.resume();
  }

  /** Drops every connection and refuses new ones from now on. */
  async kill(): Promise<void> {
    this.#killed = true;
    this.dropAll();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  stop(): Promise<void> {
    return this.#killed ? Promise.resolve() : this.kill();
  }

  #accept(client: Socket): void {
    if (this.#killed) return void client.destroy();
    const upstream = connect({ host: '127.0.0.1', port: this.#target });
    const pair: [Socket, Socket] = [client, upstream];
    this.#pairs.add(pair);
    const decoder = this.#decodeTcp ? new FrameDecoder(4 * 1024 * 1024) : undefined;
    client.on('data', (chunk: Buffer) => {
      // Recorded even when muted: what the client wrote, whether or not it gets through.
      if (decoder) {
        try {
          for (const bytes of decoder.push(chunk)) this.received.push(decodeMessage(bytes));
        } catch {
          // only bookkeeping: the server judges the bytes
        }
      }
      if (!this.muted) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!this.muted) client.write(chunk);
    });
    const end = (): void => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of pair) {
      s.on('error', end);
      s.on('close', end);
      if (this.#stalled) s.pause();
    }
  }
}
