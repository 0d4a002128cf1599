/**
 * The load generator's view of CIM's documented API only: JSON over HTTP to the route (/registerAccount,
 * /login, /p2pRoute) on keep-alive node:http connections (cheaper per call than fetch), and a TCP
 * connection speaking varint-length-prefixed protobuf frames, as CIM's Java client does.
 */
import { Agent, request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Command, decodeMessage, encodeTcpFrame, type CimFrame } from '../../../common/src/codec.ts';
import { FrameDecoder } from '../../../common/src/framing.ts';
import { formatServerAddress } from '../../../common/src/server-address.ts';

const TIMEOUT_MS = 30_000;
const MAX_BODY_BYTES = 1024 * 1024;

export interface Envelope {
  readonly code: string;
  readonly message: string;
  readonly dataBody: unknown;
}

/** POSTs JSON to the route; resolves with CIM's envelope whatever its code (callers decide). */
export class RouteHttp {
  readonly #url: URL;
  readonly #agent: Agent;

  constructor(routeUrl: string, maxSockets = 128) {
    this.#url = new URL(routeUrl);
    this.#agent = new Agent({ keepAlive: true, maxSockets });
  }

  post(path: string, payload: unknown): Promise<Envelope> {
    const body = JSON.stringify(payload);
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        { host: this.#url.hostname, port: this.#url.port, path, method: 'POST', agent: this.#agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_BODY_BYTES) return req.destroy(new Error(`${path}: answer larger than ${MAX_BODY_BYTES} bytes`));
            chunks.push(c);
          });
          res.on('error', reject);
          res.on('end', () => {
            try {
              const e = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
              if (res.statusCode !== 200 || (typeof e['code'] !== 'string' && typeof e['code'] !== 'number')) throw new Error(`HTTP ${res.statusCode}`);
              resolve({ code: String(e['code']), message: String(e['message'] ?? ''), dataBody: e['dataBody'] });
            } catch (err) {
              reject(new Error(`${path}: unusable answer (${(err as Error).message})`));
            }
          });
        },
      );
      req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error(`${path}: no answer within ${TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** POST that must answer 9000 (or one of `accept`); returns dataBody. */
  async call(path: string, payload: unknown, accept: readonly string[] = []): Promise<Record<string, unknown>> {
    const e = await this.post(path, payload);
    if (e.code !== '9000' && !accept.includes(e.code)) throw new Error(`${path}: ${e.code} ${e.message}`);
    return (e.dataBody ?? {}) as Record<string, unknown>;
  }

  close(): void {
    this.#agent.destroy();
  }
}

export interface CimUser {
  readonly userId: number;
  readonly server: string;
  onFrame: (frame: CimFrame) => void;
  close(): void;
}

/** Registers and logs in (CIM's /login, no protocol field), then opens the TCP connection and sends LOGIN_REQUEST. */
export async function connectCimUser(route: RouteHttp, userName: string): Promise<CimUser> {
  const account = await route.call('/registerAccount', { userName });
  const userId = Number(account['userId']);
  const grant = await route.call('/login', { userId, userName });
  const host = String(grant['ip']);
  const port = Number(grant['cimServerPort']);
  const socket: Socket = connect({ host, port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const decoder = new FrameDecoder(4 * 1024 * 1024);
  const user: CimUser = {
    userId,
    server: formatServerAddress({ host, tcpPort: port, httpPort: Number(grant['httpPort']) }),
    onFrame: () => undefined,
    close: () => socket.destroy(),
  };
  socket.on('data', (chunk: Buffer) => {
    try {
      for (const body of decoder.push(chunk)) user.onFrame(decodeMessage(body));
    } catch {
      socket.destroy(); // the server sent garbage: this user is out of the run, counted as loss
    }
  });
  socket.on('error', () => undefined);
  // CIM's clients get no answer to LOGIN_REQUEST; the scenario's warm-up message proves the login.
  socket.write(encodeTcpFrame({ requestId: userId, reqMsg: userName, cmd: Command.LOGIN_REQUEST }));
  const pinger = setInterval(() => socket.write(encodeTcpFrame({ requestId: userId, reqMsg: 'ping', cmd: Command.PING })), 10_000);
  pinger.unref();
  socket.on('close', () => clearInterval(pinger));
  return user;
}
