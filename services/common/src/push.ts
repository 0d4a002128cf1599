/**
 * Route -> server pushes: the request a server's `POST /push` takes, the HTTP transport that sends
 * them in batches over keep-alive connections, and the local shortcut for pushes to the caller's own
 * server.
 */
import { createHash } from 'node:crypto';
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { parseServerAddress, type ServerTls } from './server-address.ts';

/** Pushes to servers that speak TLS: `of` tells (from their ZooKeeper data) which do; `ca` verifies them (default: the system's CAs). */
export interface PushTlsOptions {
  readonly of: (server: string) => ServerTls | undefined;
  readonly ca?: Buffer | undefined;
}

/** MESSAGE (live or replayed), OFFLINE (CIM's batch form), RECEIPT (delivered/read receipts to a sender), PRESENCE (contacts/presence.ts). */
export type PushCommand = 'MESSAGE' | 'OFFLINE' | 'RECEIPT' | 'PRESENCE';
export const PUSH_COMMANDS: readonly PushCommand[] = ['MESSAGE', 'OFFLINE', 'RECEIPT', 'PRESENCE'];

export interface PushRequest {
  /** Explicit recipients (private and batch pushes). */
  readonly receivers?: readonly number[];
  /** Per receiver (same index): its inbox seq, set as `seq` of its frame (a named group's message has one seq per member inbox). */
  readonly seqs?: readonly number[];
  /** Deliver to every user logged in on the server (CIM's group chat: "everyone online"). */
  readonly broadcast?: boolean;
  readonly excludeUserIds?: readonly number[];
  /** not to the receivers' sessions of this device (a carbon copy skips the device that sent it) */
  readonly exceptDevice?: string;
  readonly msg?: string;
  readonly batchMsg?: readonly string[];
  readonly cmd?: PushCommand;
  /**
   * sendUserId, sendUserName, msgId, sentAt, seq…; for MESSAGE/OFFLINE receiveUserId is set per recipient
   * by the server; for RECEIPT it is the reader (status, receiveUserId; batchMsg = msgIds).
   */
  readonly properties: Readonly<Record<string, string>>;
}

export interface PushResult {
  /** recipients the frame was written to */
  readonly delivered: number;
  /** explicit recipients not connected to that server */
  readonly offline: readonly number[];
}

/** JSON schema of PushRequest, for the server's fastify route. */
export const pushRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['properties'],
  anyOf: [{ required: ['msg'] }, { required: ['batchMsg'] }],
  properties: {
    receivers: { type: 'array', maxItems: 100_000, items: { type: 'integer', minimum: 1 } },
    seqs: { type: 'array', maxItems: 100_000, items: { type: 'integer', minimum: 1 } },
    broadcast: { type: 'boolean' },
    excludeUserIds: { type: 'array', maxItems: 100_000, items: { type: 'integer', minimum: 1 } },
    exceptDevice: { type: 'string', maxLength: 64 },
    msg: { type: 'string' },
    batchMsg: { type: 'array', minItems: 1, maxItems: 1000, items: { type: 'string' } },
    cmd: { type: 'string', enum: PUSH_COMMANDS },
    properties: { type: 'object', additionalProperties: { type: 'string' } },
  },
} as const;

/**
 * Delivers a push to the sessions of one server. Guarantee: at most once, live. A resolved result says
 * which frames were written to an open session (`delivered`) and which explicit receivers were not
 * there; a rejection says nothing about delivery (the frames may or may not have been written before a
 * timeout), so callers never use it to decide storage: private messages are stored before they are
 * pushed and leave the inbox only when acknowledged.
 */
export interface PushTransport {
  /** @throws when the server cannot be reached or answers with an error */
  push(server: string, request: PushRequest): Promise<PushResult>;
  /** Releases connections. */
  close?(): void;
}

/**
 * Pushes to the caller's own server (`self()`) go straight to `local` without HTTP; others go to
 * `remote`. `self` is read at each push: a server learns its address only after it listens.
 */
export class LocalShortcutPushTransport implements PushTransport {
  readonly #self: () => string;
  readonly #local: (request: PushRequest) => PushResult;
  readonly #remote: PushTransport;

  constructor(self: () => string, local: (request: PushRequest) => PushResult, remote: PushTransport) {
    this.#self = self;
    this.#local = local;
    this.#remote = remote;
  }

  async push(server: string, request: PushRequest): Promise<PushResult> {
    return server === this.#self() ? this.#local(request) : this.#remote.push(server, request);
  }

  close(): void {
    this.#remote.close?.();
  }
}

export class PushError extends Error {
  readonly server: string;
  constructor(server: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PushError';
    this.server = server;
  }
}

/** JSON schema of a batch of pushes (what HttpPushTransport sends). */
export const pushBatchSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['pushes'],
  properties: { pushes: { type: 'array', minItems: 1, maxItems: 1000, items: pushRequestSchema } },
} as const;

export const MAX_PUSHES_PER_BATCH = 500;

interface PendingPush {
  readonly request: PushRequest;
  resolve(result: PushResult): void;
  reject(err: Error): void;
}

/**
 * Pushes over HTTP/1.1 keep-alive (node:http, cheaper per call than fetch). Pushes to one server
 * issued in the same event-loop turn, or while the previous batch is on the wire, travel together
 * in one `POST /push/batch`: no added latency when idle, far fewer requests under load.
 */
export class HttpPushTransport implements PushTransport {
  readonly #timeoutMs: number;
  readonly #headers: Record<string, string>;
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 16, scheduling: 'lifo' });
  readonly #tls: PushTlsOptions | undefined;
  readonly #httpsAgent: HttpsAgent | undefined;
  readonly #pending = new Map<string, PendingPush[]>();
  readonly #inFlight = new Map<string, number>();

  readonly #internalPortOf: (server: string) => number | undefined;

  /** `internalPortOf`: the port a server published for pushes (--internal-port, in its ZooKeeper data), read at every batch; else its httpPort. */
  constructor(options: { timeoutMs?: number; authSecret?: string | undefined; tls?: PushTlsOptions | undefined; internalPortOf?: (server: string) => number | undefined } = {}) {
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#internalPortOf = options.internalPortOf ?? (() => undefined);
    this.#tls = options.tls;
    if (options.tls) this.#httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 16, scheduling: 'lifo', ...(options.tls.ca ? { ca: options.tls.ca } : {}) });
    this.#headers = { 'content-type': 'application/json' };
    if (options.authSecret) this.#headers['x-cim-push-auth'] = pushAuthHeader(options.authSecret);
  }

  push(server: string, request: PushRequest): Promise<PushResult> {
    return new Promise((resolve, reject) => {
      let queue = this.#pending.get(server);
      if (!queue) {
        queue = [];
        this.#pending.set(server, queue);
        // Flush after the current turn, unless a batch to this server is already on the wire: then
        // the queue is flushed when it returns, carrying everything that arrived meanwhile.
        if ((this.#inFlight.get(server) ?? 0) === 0) setImmediate(() => this.#flush(server));
      }
      queue.push({ request, resolve, reject });
    });
  }

  #flush(server: string): void {
    const queue = this.#pending.get(server);
    if (!queue || queue.length === 0) return;
    // One batch on the wire per server keeps pushes in FIFO order (senders rely on it: they do not wait
    // for their pushes); the rest stays pending and goes when this batch returns.
    if (queue.length <= MAX_PUSHES_PER_BATCH) this.#pending.delete(server);
    else this.#pending.set(server, queue.slice(MAX_PUSHES_PER_BATCH));
    this.#send(server, queue.slice(0, MAX_PUSHES_PER_BATCH));
  }

  #send(server: string, batch: PendingPush[]): void {
    const fail = (message: string, cause?: unknown) => {
      const err = new PushError(server, `push to ${server} failed: ${message}`, cause === undefined ? undefined : { cause });
      for (const p of batch) p.reject(err);
    };
    const addr = parseServerAddress(server);
    if (!addr) return fail(`invalid server address ${JSON.stringify(server)}`);
    this.#inFlight.set(server, (this.#inFlight.get(server) ?? 0) + 1);
    let finished = false;
    /** Runs once per request, whichever of response, error or timeout comes first. */
    const finish = (outcome: () => void) => {
      if (finished) return;
      finished = true;
      const left = (this.#inFlight.get(server) ?? 1) - 1;
      if (left > 0) this.#inFlight.set(server, left);
      else this.#inFlight.delete(server);
      outcome();
      if (left === 0) this.#flush(server);
    };
    const body = JSON.stringify({ pushes: batch.map((p) => p.request) });
    const target = { host: addr.host, port: this.#internalPortOf(server) ?? addr.httpPort, path: '/push/batch', method: 'POST', headers: { ...this.#headers, 'content-length': Buffer.byteLength(body) } };
    // A TLS server is verified against the name it published (a pod IP is rarely in a certificate), else its address.
    const tls = this.#tls?.of(server);
    const onResponse = (res: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => finish(() => fail(err.message, err)));
      res.on('end', () => finish(() => {
        let parsed: { code?: string; dataBody?: { results?: PushResult[] } } | undefined;
        try {
          parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof parsed;
        } catch {
          parsed = undefined;
        }
        const results = parsed?.dataBody?.results;
        if (res.statusCode !== 200 || parsed?.code !== '9000' || !results || results.length !== batch.length) {
          return fail(`HTTP ${res.statusCode} ${JSON.stringify(parsed)}`);
        }
        batch.forEach((p, i) => p.resolve(results[i]!));
      }));
    };
    const req = tls && this.#httpsAgent
      ? httpsRequest({ ...target, agent: this.#httpsAgent, ...(tls.name ? { servername: tls.name } : {}) }, onResponse)
      : httpRequest({ ...target, agent: this.#agent }, onResponse);
    req.setTimeout(this.#timeoutMs, () => req.destroy(new Error(`no answer within ${this.#timeoutMs} ms`)));
    req.on('error', (err) => finish(() => fail(err.message, err)));
    req.end(body);
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.#agent.destroy();
    this.#httpsAgent?.destroy();
  }
}

/** Servers accept pushes only from holders of the shared secret (routes, other servers), in every --auth mode. */
export function pushAuthHeader(secret: string): string {
  return createHash('sha256').update(`cim-push:${secret}`).digest('base64url');
}
