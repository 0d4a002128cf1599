/**
 * CIM mode: what the SDK does differently when it talks to a deployment of CIM itself (reference §2, §3,
 * §7), so `cim chat` works against CIM's Java route and servers as CIM's own client does:
 *
 *   - TCP varint frames only (CIM's servers have no WebSocket endpoint);
 *   - LOGIN_REQUEST {requestId: userId, reqMsg: userName} and nothing else: CIM never answers it, so the
 *     client is ready once it is written;
 *   - PING {requestId: userId, reqMsg: "ping"} every heartbeat interval (CIM's server drops a client ~33 s
 *     after its last PING); a close, or no frame at all within pongTimeoutMs of a PING, means dead (CIM's
 *     server answers every PING, so this is CIM's rule plus half-open detection, with the same bytes);
 *   - chat goes over HTTP: /p2pRoute and /groupRoute, never an in-band MESSAGE; no acks, receipts or SYNC;
 *   - reconnect: /offLine {userId, msg:"offLine"}, backoff, /login again (CIM's ReConnectManager flow);
 *   - /fetchOfflineMsgs after every login, once a pong proved the server has our LOGIN_REQUEST (CIM's
 *     client waits 5 s and does it once; a fetch before the server knows the channel would lose them).
 *
 * `auto` (the default protocol) logs in with protocol 2 and picks CIM mode when the answer has none of
 * our route's protocol-2 fields (wsPath, token).
 */
import { randomUUID } from 'node:crypto';
import { Command, type CimFrame } from '../../../common/src/codec.ts';
import { ClientErrorCode, CimClientError } from './errors.ts';
import type { SendResult } from './events.ts';
import type { LoginGrant } from './route-api.ts';

export type Protocol = 'cim' | 'native' | 'auto';
export const PROTOCOLS: readonly Protocol[] = ['auto', 'cim', 'native'];
/** The protocol a connection actually speaks, once decided. */
export type Mode = 'cim' | 'native';

/** Validates the `protocol` option. Default 'auto'. */
export function checkProtocol(value: unknown): Protocol {
  if (value === undefined) return 'auto';
  if (typeof value !== 'string' || !(PROTOCOLS as readonly string[]).includes(value)) {
    throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, `protocol must be one of ${PROTOCOLS.join(', ')}, got ${String(value)}`);
  }
  return value as Protocol;
}

/** CIM's LOGIN_REQUEST: cmd 0 is proto3's default, so it is not even on the wire (reference §2.2). */
export function cimLoginFrame(userId: number, userName: string): Partial<CimFrame> {
  return { cmd: Command.LOGIN_REQUEST, requestId: userId, reqMsg: userName };
}

export function cimPingFrame(userId: number): Partial<CimFrame> {
  return { cmd: Command.PING, requestId: userId, reqMsg: 'ping' };
}

export interface CimRouteOptions {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly fetch?: typeof fetch | undefined;
}

/**
 * CIM's route calls with CIM's exact request bodies (reference §3.2): the calls RouteApi does not have
 * (/p2pRoute, /groupRoute, /fetchOfflineMsgs) and the CIM-shaped /login and /offLine.
 */
export class CimRoute {
  readonly #o: CimRouteOptions;
  constructor(options: CimRouteOptions) {
    this.#o = options;
  }

  /** POST /login {userId, userName}: CIM's answer is only the server's address. */
  async login(userId: number, userName: string, signal: AbortSignal): Promise<LoginGrant> {
    const { code, message, dataBody } = await this.#call('login', { userId, userName }, signal);
    if (code !== '9000') throw refused('login', code, message);
    const d = dataBody as Record<string, unknown> | null;
    const ip = d?.['ip'];
    const cimServerPort = Number(d?.['cimServerPort']);
    const httpPort = Number(d?.['httpPort']);
    if (typeof ip !== 'string' || ip === '' || !isPort(cimServerPort) || !isPort(httpPort)) {
      throw new CimClientError(ClientErrorCode.ROUTE_UNAVAILABLE, 'route answer of login is malformed: expected ip, cimServerPort, httpPort');
    }
    return { ip, cimServerPort, httpPort, wsPath: '', token: '', refreshToken: '', native: false };
  }

  /** POST /offLine {userId, msg:"offLine"}, as CIM's SDK sends it. */
  async offLine(userId: number, signal?: AbortSignal): Promise<void> {
    await this.#call('offLine', { userId, msg: 'offLine' }, signal);
  }

  /** POST /fetchOfflineMsgs {receiveUserId}: CIM's route pushes the stored messages as OFFLINE frames. */
  async fetchOfflineMsgs(userId: number, signal?: AbortSignal): Promise<void> {
    const { code, message } = await this.#call('fetchOfflineMsgs', { receiveUserId: userId }, signal);
    if (code !== '9000') throw refused('fetchOfflineMsgs', code, message);
  }

  /** POST /p2pRoute: 9000 = pushed live, 7000 = the receiver is offline (CIM and this route store it). */
  async p2p(userId: number, receiveUserId: number, msg: string, signal?: AbortSignal): Promise<SendResult> {
    const { code, message } = await this.#call('p2pRoute', { userId, receiveUserId, msg }, signal);
    if (code === '9000') return { msgId: randomUUID(), online: true };
    if (code === '7000') return { msgId: randomUUID(), online: false };
    throw refused('p2pRoute', code, message, ClientErrorCode.SEND_REFUSED);
  }

  /** POST /groupRoute {userId, msg}: live only, to everyone online but the sender. */
  async group(userId: number, msg: string, signal?: AbortSignal): Promise<SendResult> {
    const { code, message } = await this.#call('groupRoute', { userId, msg }, signal);
    if (code !== '9000') throw refused('groupRoute', code, message, ClientErrorCode.SEND_REFUSED);
    return { msgId: randomUUID() };
  }

  async #call(path: string, payload: unknown, signal?: AbortSignal): Promise<{ code: string; message: string; dataBody: unknown }> {
    const timeout = AbortSignal.timeout(this.#o.timeoutMs);
    const url = `${this.#o.baseUrl}/${path}`;
    let text: string;
    let status: number;
    try {
      const res = await (this.#o.fetch ?? fetch)(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(payload),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      status = res.status;
      text = await res.text();
    } catch (err) {
      if (signal?.aborted) throw new CimClientError(ClientErrorCode.CLOSED, 'the client was closed');
      const code = timeout.aborted ? ClientErrorCode.TIMEOUT : ClientErrorCode.ROUTE_UNAVAILABLE;
      throw new CimClientError(code, `route POST ${url} failed: ${(err as Error).message}`, { cause: err });
    }
    if (status !== 200) throw new CimClientError(ClientErrorCode.ROUTE_UNAVAILABLE, `route POST ${url} answered HTTP ${status}: ${text.slice(0, 200)}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new CimClientError(ClientErrorCode.ROUTE_UNAVAILABLE, `route POST ${url} answered with invalid JSON`, { cause: err });
    }
    if (typeof parsed !== 'object' || parsed === null) throw new CimClientError(ClientErrorCode.ROUTE_UNAVAILABLE, `route POST ${url}: no envelope`);
    const e = parsed as Record<string, unknown>;
    return { code: String(e['code'] ?? ''), message: typeof e['message'] === 'string' ? e['message'] : '', dataBody: e['dataBody'] ?? null };
  }
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n > 0 && n <= 65535;
}

function refused(path: string, code: string, message: string, kind: ClientErrorCode = ClientErrorCode.ROUTE_REJECTED): CimClientError {
  return new CimClientError(kind, `route /${path} refused (${code}): ${message}`, { serverCode: code });
}
