/**
 * The server end of the push link (services/common/src/push-link.ts): a WebSocket at `/push/link` on the
 * push port, for holders of the shared secret only (routes, other servers), carrying batches of the same
 * PushRequests as POST /push/batch, validated against the same schema. A frame that is not a batch is
 * answered with an error for that batch (or, without an id, closes the link: it is a bug in the peer).
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Ajv } from 'ajv';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../../common/src/log.ts';
import { PUSH_LINK_PATH } from '../../common/src/push-link.ts';
import { pushAuthHeader, pushRequestSchema, type PushRequest, type PushResult } from '../../common/src/push.ts';

const batchSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['i', 'p'],
  properties: { i: { type: 'integer', minimum: 1 }, p: { type: 'array', minItems: 1, maxItems: 1000, items: pushRequestSchema } },
} as const;

export interface PushLinkServerOptions {
  readonly authSecret: string;
  readonly log: Logger;
  /** largest batch frame accepted */
  readonly maxPayload: number;
  readonly handlePush: (request: PushRequest) => PushResult;
  /** a batch was served ('ok', with its push count) or refused as malformed */
  readonly onBatch?: (result: 'ok' | 'malformed', pushes: number) => void;
}

export class PushLinkServer {
  readonly #o: PushLinkServerOptions;
  readonly #wss: WebSocketServer;
  readonly #expectedAuth: Buffer;
  readonly #validate = new Ajv({ allErrors: false }).compile<{ i: number; p: PushRequest[] }>(batchSchema);

  constructor(options: PushLinkServerOptions) {
    this.#o = options;
    this.#expectedAuth = Buffer.from(pushAuthHeader(options.authSecret));
    this.#wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: options.maxPayload, clientTracking: true });
    this.#wss.on('connection', (ws: WebSocket) => this.#serve(ws));
  }

  /** An upgrade request on the push port: true when it was ours (answered or refused), false for other paths. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if ((req.url ?? '').split('?')[0] !== PUSH_LINK_PATH) return false;
    const given = req.headers['x-cim-push-auth'];
    const buf = typeof given === 'string' ? Buffer.from(given) : Buffer.alloc(0);
    if (buf.length !== this.#expectedAuth.length || !timingSafeEqual(buf, this.#expectedAuth)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return true;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#wss.emit('connection', ws, req));
    return true;
  }

  #serve(ws: WebSocket): void {
    ws.on('message', (data, isBinary) => {
      let batch: unknown;
      try {
        batch = isBinary ? undefined : JSON.parse(String(data));
      } catch {
        batch = undefined;
      }
      if (!this.#validate(batch)) {
        const id = typeof (batch as { i?: unknown } | undefined)?.i === 'number' ? (batch as { i: number }).i : undefined;
        this.#o.log.warn({ errors: this.#validate.errors?.slice(0, 3) }, 'push link: malformed batch');
        this.#o.onBatch?.('malformed', 0);
        if (id === undefined) ws.close(1008, 'not a push batch');
        else ws.send(JSON.stringify({ i: id, e: 'malformed push batch' }));
        return;
      }
      ws.send(JSON.stringify({ i: batch.i, r: batch.p.map((p) => this.#o.handlePush(p)) }));
      this.#o.onBatch?.('ok', batch.p.length);
    });
    ws.on('error', (err) => this.#o.log.debug({ err }, 'push link error'));
  }

  close(): void {
    for (const ws of this.#wss.clients) ws.terminate();
    this.#wss.close();
  }
}
