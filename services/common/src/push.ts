/**
 * Route -> server pushes: the request a server's `POST /push` takes, and the HTTP transport that
 * sends it. Node's fetch keeps connections alive per origin, so pushes reuse connections.
 */
import { createHash } from 'node:crypto';
import { parseServerAddress } from './server-address.ts';

export type PushCommand = 'MESSAGE' | 'OFFLINE';

export interface PushRequest {
  /** Explicit recipients (private and batch pushes). */
  readonly receivers?: readonly number[];
  /** Deliver to every user logged in on the server (CIM's group chat: "everyone online"). */
  readonly broadcast?: boolean;
  readonly excludeUserIds?: readonly number[];
  readonly msg?: string;
  readonly batchMsg?: readonly string[];
  readonly cmd?: PushCommand;
  /** sendUserId, sendUserName, msgId, sentAt…; receiveUserId is set per recipient by the server. */
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
    broadcast: { type: 'boolean' },
    excludeUserIds: { type: 'array', maxItems: 100_000, items: { type: 'integer', minimum: 1 } },
    msg: { type: 'string' },
    batchMsg: { type: 'array', minItems: 1, maxItems: 1000, items: { type: 'string' } },
    cmd: { type: 'string', enum: ['MESSAGE', 'OFFLINE'] },
    properties: { type: 'object', additionalProperties: { type: 'string' } },
  },
} as const;

export interface PushTransport {
  /** @throws when the server cannot be reached or answers with an error */
  push(server: string, request: PushRequest): Promise<PushResult>;
}

export class PushError extends Error {
  readonly server: string;
  constructor(server: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PushError';
    this.server = server;
  }
}

export class HttpPushTransport implements PushTransport {
  readonly #timeoutMs: number;
  readonly #headers: Record<string, string>;

  constructor(options: { timeoutMs?: number; authSecret?: string | undefined } = {}) {
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#headers = { 'content-type': 'application/json' };
    if (options.authSecret) this.#headers['x-cim-push-auth'] = pushAuthHeader(options.authSecret);
  }

  async push(server: string, request: PushRequest): Promise<PushResult> {
    const addr = parseServerAddress(server);
    if (!addr) throw new PushError(server, `invalid server address ${JSON.stringify(server)}`);
    let res: Response;
    try {
      res = await fetch(`http://${addr.host}:${addr.httpPort}/push`, {
        method: 'POST',
        headers: this.#headers,
        body: JSON.stringify(request),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw new PushError(server, `push to ${server} failed: ${(err as Error).message}`, { cause: err });
    }
    const body = (await res.json().catch(() => undefined)) as { code?: string; dataBody?: PushResult } | undefined;
    if (!res.ok || body?.code !== '9000' || !body.dataBody) {
      throw new PushError(server, `push to ${server} answered HTTP ${res.status} ${JSON.stringify(body)}`);
    }
    return body.dataBody;
  }
}

/** Servers with an auth secret accept pushes only from holders of the secret (routes, other servers). */
export function pushAuthHeader(secret: string): string {
  return createHash('sha256').update(`cim-push:${secret}`).digest('base64url');
}
