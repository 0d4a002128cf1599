/**
 * The login handshake on a freshly opened connection: LOGIN_REQUEST (protocol 2, the route's token) →
 * the server's LOGIN_RESPONSE. Success carries maxSeq (the highest seq of the user's inbox), after which
 * the server pushes the pending inbox. A refusal, a GOAWAY, a close or silence fails the handshake.
 */
import { CloseCodes, Codes, closeCode, isRetryableCode, shouldReconnect } from '../../../common/src/codes.ts';
import { Command, PROTOCOL_VERSION, Prop, type CimFrame } from '../../../common/src/codec.ts';
import { ClientErrorCode, CimClientError } from './errors.ts';
import { parseSeq } from './outbox.ts';
import type { Connection } from './transport.ts';

export interface LoginAccepted {
  readonly maxSeq: number | undefined;
}

export interface HandshakeParams {
  readonly userId: number;
  readonly userName: string;
  readonly token: string;
  readonly timeoutMs: number;
  /** --login-policy multi: this installation's device */
  readonly device?: string | undefined;
}

/** One LOGIN_REQUEST and its answer. Settles once: `done` resolves on 9000 and rejects otherwise. */
export class LoginHandshake {
  readonly done: Promise<LoginAccepted>;
  #settled = false;
  #resolve!: (accepted: LoginAccepted) => void;
  #reject!: (err: Error) => void;
  readonly #timer: NodeJS.Timeout;

  constructor(connection: Connection, params: HandshakeParams) {
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#timer = setTimeout(
      () => this.fail(new CimClientError(ClientErrorCode.TIMEOUT, `no LOGIN_RESPONSE from ${connection.remote} within ${params.timeoutMs} ms`)),
      params.timeoutMs,
    );
    connection.send({
      cmd: Command.LOGIN_REQUEST,
      requestId: params.userId,
      reqMsg: params.userName,
      properties: { [Prop.protocol]: PROTOCOL_VERSION, ...(params.token ? { [Prop.token]: params.token } : {}), ...(params.device ? { [Prop.device]: params.device } : {}) },
    });
  }

  get settled(): boolean {
    return this.#settled;
  }

  /**
   * The LOGIN_RESPONSE: returns what was accepted (so the caller can go ready before the next frame of the
   * same read is handled), or undefined after failing the handshake.
   */
  answer(frame: CimFrame): LoginAccepted | undefined {
    const code = frame.properties[Prop.code] ?? '';
    if (code === Codes.SUCCESS.code) {
      const accepted = { maxSeq: parseSeq(frame.properties[Prop.maxSeq]) ?? (frame.properties[Prop.maxSeq] === '0' ? 0 : undefined) };
      this.#settle();
      this.#resolve(accepted);
      return accepted;
    }
    const reason = frame.properties[Prop.reason] || frame.reqMsg;
    this.fail(
      new CimClientError(ClientErrorCode.LOGIN_REJECTED, `server refused the login (${code})${reason ? `: ${reason}` : ''}`, {
        serverCode: code,
        retryable: isRetryableCode(code),
      }),
    );
    return undefined;
  }

  fail(err: Error): void {
    if (this.#settled) return;
    this.#settle();
    this.#reject(err);
  }

  #settle(): void {
    this.#settled = true;
    clearTimeout(this.#timer);
  }
}

/** A GOAWAY's advice: the close code and whether to come back. */
export interface DisconnectAdvice {
  readonly code: number | undefined;
  readonly reconnect: boolean;
  readonly reason: string;
}

/** Reads a GOAWAY: the code decides (codes.ts shouldReconnect); without a code, the `reconnect` property. */
export function disconnectAdvice(frame: CimFrame): DisconnectAdvice {
  const raw = frame.properties[Prop.code];
  const code = raw !== undefined && /^\d{1,5}$/.test(raw) ? Number(raw) : undefined;
  const reconnect = code !== undefined ? shouldReconnect(code) : frame.properties[Prop.reconnect] !== '0';
  const why = frame.reqMsg || (code !== undefined ? closeCode(code)?.reason : undefined);
  return { code, reconnect, reason: `server is going away${why ? `: ${why}` : ''}` };
}

/** The error a client stops with after terminal advice (4100 replaced, 4101 login refused, …). */
export function terminalError(advice: DisconnectAdvice): CimClientError {
  const serverCode = advice.code === undefined ? undefined : String(advice.code);
  const options = { retryable: false, ...(serverCode ? { serverCode } : {}) };
  if (advice.code === CloseCodes.replaced.code) return new CimClientError(ClientErrorCode.REPLACED, `${advice.reason} (${advice.code}); not reconnecting`, options);
  if (advice.code === CloseCodes['login-refused'].code) return new CimClientError(ClientErrorCode.LOGIN_REJECTED, `${advice.reason} (${advice.code}); not reconnecting`, options);
  return new CimClientError(ClientErrorCode.DISCONNECTED, `${advice.reason}${serverCode ? ` (${serverCode})` : ''}; not reconnecting`, options);
}
