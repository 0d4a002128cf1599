/**
 * Pushes over one persistent WebSocket per target server (`/push/link` on its push port), instead of one
 * HTTP request per batch: the pushes issued in one event-loop turn travel as one frame
 * `{"i": id, "p": [PushRequest…]}` and come back as `{"i": id, "r": [PushResult…]}` (or `{"i": id, "e": why}`).
 * Measured: at 1,000 msg/s an HTTP request per message and per receipt cost each server more CPU than the
 * messages themselves (docs/benchmarks.md). Guarantees as HttpPushTransport's: at most once, live; FIFO per
 * server (one socket, frames in order); a rejection says nothing about delivery. A server that does not
 * offer the link (an older version during a rolling upgrade) is served over HTTP for a while.
 */
import { WebSocket } from 'ws';
import { parseServerAddress } from './server-address.ts';
import { HttpPushTransport, MAX_PUSHES_PER_BATCH, PushError, pushAuthHeader, type PushRequest, type PushResult, type PushTlsOptions, type PushTransport } from './push.ts';

export const PUSH_LINK_PATH = '/push/link';
/** Frames are cut at about this size (UTF-16 units of the JSON): below the smallest limit a server accepts (4 MiB). */
const FRAME_SPLIT_BYTES = 2 * 1024 * 1024;
/** How long a server that refused the link is served over HTTP before the link is tried again. */
const HTTP_FALLBACK_MS = 60_000;

interface Pending {
  readonly request: PushRequest;
  resolve(result: PushResult): void;
  reject(err: Error): void;
}

interface InFlight {
  readonly batch: Pending[];
  readonly timer: NodeJS.Timeout;
}

/** One server's link: pushes wait in `queue` until the socket is open and the turn ends. */
class Link {
  readonly ws: WebSocket;
  readonly queue: Pending[] = [];
  readonly inFlight = new Map<number, InFlight>();
  open = false;
  flushScheduled = false;
  constructor(ws: WebSocket) {
    this.ws = ws;
  }
}

export interface LinkPushOptions {
  readonly timeoutMs?: number;
  readonly authSecret?: string | undefined;
  readonly tls?: PushTlsOptions | undefined;
  /** the port a server published for pushes (--internal-port), else its httpPort */
  readonly internalPortOf?: (server: string) => number | undefined;
  /** largest frame accepted from a server (its results); default 16 MiB */
  readonly maxPayload?: number;
}

export class LinkPushTransport implements PushTransport {
  readonly #o: LinkPushOptions;
  readonly #timeoutMs: number;
  readonly #links = new Map<string, Link>();
  readonly #http: HttpPushTransport;
  /** servers without the link (404 at the upgrade), until when (ms) */
  readonly #httpOnly = new Map<string, number>();
  #nextId = 1;
  #closed = false;

  constructor(options: LinkPushOptions = {}) {
    this.#o = options;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#http = new HttpPushTransport(options);
  }

  push(server: string, request: PushRequest): Promise<PushResult> {
    if ((this.#httpOnly.get(server) ?? 0) > Date.now()) return this.#http.push(server, request);
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(new PushError(server, `push to ${server} failed: transport closed`));
      let link = this.#links.get(server);
      if (!link) {
        const opened = this.#open(server);
        if (opened instanceof Error) return reject(opened);
        link = opened;
      }
      link.queue.push({ request, resolve, reject });
      this.#schedule(server, link);
    });
  }

  #open(server: string): Link | Error {
    const addr = parseServerAddress(server);
    if (!addr) return new PushError(server, `push to ${server} failed: invalid server address ${JSON.stringify(server)}`);
    const tls = this.#o.tls?.of(server);
    const url = `${tls ? 'wss' : 'ws'}://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${this.#o.internalPortOf?.(server) ?? addr.httpPort}${PUSH_LINK_PATH}`;
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      maxPayload: this.#o.maxPayload ?? 16 * 1024 * 1024,
      handshakeTimeout: this.#timeoutMs,
      headers: this.#o.authSecret ? { 'x-cim-push-auth': pushAuthHeader(this.#o.authSecret) } : {},
      ...(tls ? { ...(this.#o.tls?.ca ? { ca: this.#o.tls.ca } : {}), ...(tls.name ? { servername: tls.name } : {}) } : {}),
    });
    const link = new Link(ws);
    this.#links.set(server, link);
    ws.on('open', () => {
      link.open = true;
      this.#schedule(server, link);
    });
    ws.on('message', (data, isBinary) => this.#answer(server, link, data, isBinary));
    // An older server answers the upgrade with 404: serve it over HTTP, this queue included.
    ws.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      if (status === 404) {
        this.#httpOnly.set(server, Date.now() + HTTP_FALLBACK_MS);
        this.#drop(server, link);
        for (const p of link.queue.splice(0)) this.#http.push(server, p.request).then(p.resolve, p.reject);
      } else this.#fail(server, link, new PushError(server, `push link to ${server} refused: HTTP ${status}`));
      ws.terminate();
    });
    ws.on('error', (err) => this.#fail(server, link, new PushError(server, `push to ${server} failed: ${err.message}`, { cause: err })));
    ws.on('close', (code) => this.#fail(server, link, new PushError(server, `push to ${server} failed: link closed (${code})`)));
    return link;
  }

  #schedule(server: string, link: Link): void {
    if (!link.open || link.flushScheduled || link.queue.length === 0) return;
    link.flushScheduled = true;
    // After the current turn: everything pushed meanwhile goes in the same frame.
    setImmediate(() => {
      link.flushScheduled = false;
      this.#flush(server, link);
    });
  }

  #flush(server: string, link: Link): void {
    while (link.open && link.queue.length > 0) {
      // At most MAX_PUSHES_PER_BATCH pushes and about FRAME_SPLIT_BYTES per frame (one bigger push goes alone):
      // every server accepts frames that size.
      const parts: string[] = [];
      let bytes = 0;
      while (parts.length < Math.min(MAX_PUSHES_PER_BATCH, link.queue.length)) {
        const part = JSON.stringify(link.queue[parts.length]!.request);
        if (parts.length > 0 && bytes + part.length > FRAME_SPLIT_BYTES) break;
        parts.push(part);
        bytes += part.length;
      }
      const batch = link.queue.splice(0, parts.length);
      const id = this.#nextId++;
      // A server that does not answer in time is wedged: drop the link (as HTTP drops the request); the next push reconnects.
      const timer = setTimeout(() => this.#fail(server, link, new PushError(server, `push to ${server} failed: no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
      link.inFlight.set(id, { batch, timer });
      link.ws.send(`{"i":${id},"p":[${parts.join(',')}]}`);
    }
  }

  #answer(server: string, link: Link, data: unknown, isBinary: boolean): void {
    let reply: { i?: unknown; r?: unknown; e?: unknown } | undefined;
    try {
      reply = isBinary ? undefined : (JSON.parse(String(data)) as typeof reply);
    } catch {
      reply = undefined;
    }
    const entry = typeof reply?.i === 'number' ? link.inFlight.get(reply.i) : undefined;
    if (!reply || !entry) return this.#fail(server, link, new PushError(server, `push link to ${server}: unexpected answer`));
    link.inFlight.delete(reply.i as number);
    clearTimeout(entry.timer);
    const results = reply.r;
    if (!Array.isArray(results) || results.length !== entry.batch.length) {
      const err = new PushError(server, `push to ${server} failed: ${typeof reply.e === 'string' ? reply.e : 'malformed answer'}`);
      for (const p of entry.batch) p.reject(err);
      return;
    }
    entry.batch.forEach((p, i) => p.resolve(results[i] as PushResult));
  }

  /** The link is gone: everything queued or on the wire fails (maybe delivered); the next push reconnects. */
  #fail(server: string, link: Link, err: Error): void {
    this.#drop(server, link);
    for (const p of link.queue.splice(0)) p.reject(err);
    for (const { batch, timer } of link.inFlight.values()) {
      clearTimeout(timer);
      for (const p of batch) p.reject(err);
    }
    link.inFlight.clear();
    if (link.ws.readyState === WebSocket.OPEN || link.ws.readyState === WebSocket.CONNECTING) link.ws.terminate();
  }

  #drop(server: string, link: Link): void {
    link.open = false;
    if (this.#links.get(server) === link) this.#links.delete(server);
  }

  close(): void {
    this.#closed = true;
    for (const [server, link] of [...this.#links]) this.#fail(server, link, new PushError(server, `push to ${server} failed: transport closed`));
    this.#http.close();
  }
}
