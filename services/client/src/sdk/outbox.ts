/**
 * Pending sends: each in-band MESSAGE waits here, keyed by its msgId, until the server's one MESSAGE_ACK
 * for it. SENT (9000) resolves with the receiver's seq; a retryable failure (store down, server draining)
 * sends again with the SAME msgId after a backoff, so the server's idempotent append never stores it
 * twice; a non-retryable one rejects with a coded error. A connection lost before the ack puts the send
 * back in the queue (again the same msgId). Every send settles exactly once: by an ack, its timeout
 * (which bounds retries and reconnects too), or rejectAll().
 */
import { randomUUID } from 'node:crypto';
import { Codes, isRetryableCode } from '../../../common/src/codes.ts';
import { Command, Prop, type CimFrame } from '../../../common/src/codec.ts';
import type { Logger } from '../../../common/src/log.ts';
import { ClientErrorCode, CimClientError } from './errors.ts';
import type { SendOptions, SendResult } from './events.ts';

/** What the outbox needs from the connection. */
export interface OutboxLink {
  /** Writes a frame on the ready connection; false when there is none. */
  write(frame: Partial<CimFrame>): boolean;
  readonly ready: boolean;
  readonly userId: number;
}

export interface OutboxOptions {
  readonly sendTimeoutMs: number;
  readonly maxQueuedSends: number;
  readonly sendRetryDelay: (attempt: number) => number;
  readonly logger: Logger;
}

interface PendingSend {
  readonly msgId: string;
  readonly text: string;
  readonly properties: Record<string, string>;
  readonly resolve: (result: SendResult) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
  /** Retryable failures answered so far. */
  failures: number;
  retryTimer: NodeJS.Timeout | undefined;
}

const MSG_ID = /^[A-Za-z0-9_-]{1,64}$/;

export class Outbox {
  readonly #link: OutboxLink;
  readonly #options: OutboxOptions;
  /** Every unsettled send, whatever it waits for. */
  readonly #all = new Map<string, PendingSend>();
  /** Waiting for a connection, oldest first. */
  #queue: PendingSend[] = [];
  /** Written to the current connection, waiting for MESSAGE_ACK. */
  readonly #inFlight = new Map<string, PendingSend>();

  constructor(link: OutboxLink, options: OutboxOptions) {
    this.#link = link;
    this.#options = options;
  }

  get size(): number {
    return this.#all.size;
  }

  /** Queues a MESSAGE (receiveUserId in `properties` for a private one) and resolves on SENT. */
  send(text: string, properties: Record<string, string>, options: SendOptions): Promise<SendResult> {
    if (typeof text !== 'string' || text === '') return Promise.reject(invalid('text must be a non-empty string'));
    const msgId = options.msgId ?? randomUUID();
    if (typeof msgId !== 'string' || !MSG_ID.test(msgId)) return Promise.reject(invalid('msgId must match [A-Za-z0-9_-]{1,64}'));
    if (this.#all.has(msgId)) return Promise.reject(invalid(`a send with msgId ${msgId} is already pending`));
    const timeoutMs = options.timeoutMs ?? this.#options.sendTimeoutMs;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) return Promise.reject(invalid(`timeoutMs must be a positive number, got ${timeoutMs}`));
    if (!this.#link.ready && this.#queue.length >= this.#options.maxQueuedSends) {
      return Promise.reject(new CimClientError(ClientErrorCode.QUEUE_FULL, `${this.#queue.length} sends already wait for a connection (maxQueuedSends)`));
    }
    return new Promise<SendResult>((resolve, reject) => {
      const pending: PendingSend = {
        msgId,
        text,
        properties,
        resolve,
        reject,
        failures: 0,
        retryTimer: undefined,
        timer: setTimeout(() => {
          this.#settle(pending, new CimClientError(ClientErrorCode.TIMEOUT, `message ${msgId} was not acknowledged within ${timeoutMs} ms (${pending.failures} retryable failures)`));
        }, timeoutMs),
      };
      this.#all.set(msgId, pending);
      if (!this.#write(pending)) this.#queue.push(pending);
    });
  }

  /** The connection is ready (again): write what waits, oldest first. */
  flush(): void {
    while (this.#queue.length > 0 && this.#link.ready) {
      if (!this.#write(this.#queue[0]!)) return;
      this.#queue.shift();
    }
  }

  /** The connection is gone: unacknowledged sends go first, in their order, then what was queued meanwhile. */
  requeueInFlight(): void {
    this.#queue = [...this.#inFlight.values(), ...this.#queue];
    this.#inFlight.clear();
  }

  handleAck(frame: CimFrame): void {
    const p = frame.properties;
    const msgId = p[Prop.msgId] ?? '';
    const pending = this.#inFlight.get(msgId);
    if (!pending) return; // settled already, or an ack of an earlier connection's write
    this.#inFlight.delete(msgId);
    const code = p[Prop.code] ?? '';
    if (code === Codes.SUCCESS.code) {
      const seq = parseSeq(p[Prop.seq]);
      const online = p[Prop.online];
      const gseq = parseSeq(p[Prop.gseq]);
      this.#settle(pending, { msgId, ...(seq !== undefined ? { seq } : {}), ...(online !== undefined ? { online: online === '1' } : {}), ...(gseq !== undefined ? { gseq } : {}) });
      return;
    }
    const reason = p[Prop.reason] || frame.reqMsg || undefined;
    // The server's advice wins; without it, the catalogue's.
    const retryable = p[Prop.retryable] !== undefined ? p[Prop.retryable] === '1' : isRetryableCode(code);
    if (retryable) {
      pending.failures++;
      const delayMs = this.#options.sendRetryDelay(pending.failures);
      this.#options.logger.info({ msgId, code, reason, delayMs }, 'send failed, retrying with the same msgId');
      pending.retryTimer = setTimeout(() => {
        pending.retryTimer = undefined;
        if (this.#all.get(msgId) === pending && !this.#write(pending)) this.#queue.unshift(pending);
      }, delayMs);
      return;
    }
    this.#settle(pending, refusal(msgId, code, reason));
  }

  /** Rejects every unsettled send (the client closed). */
  rejectAll(err: Error): void {
    for (const pending of [...this.#all.values()]) this.#settle(pending, err);
  }

  #write(pending: PendingSend): boolean {
    if (!this.#link.ready) return false;
    const frame: Partial<CimFrame> = {
      cmd: Command.MESSAGE,
      requestId: this.#link.userId,
      reqMsg: pending.text,
      properties: { ...pending.properties, [Prop.msgId]: pending.msgId },
    };
    if (!this.#link.write(frame)) return false;
    this.#inFlight.set(pending.msgId, pending);
    return true;
  }

  /** The one place a send ends: it is forgotten everywhere, its timers stop, its promise settles. */
  #settle(pending: PendingSend, outcome: SendResult | Error): void {
    if (this.#all.get(pending.msgId) !== pending) return;
    this.#all.delete(pending.msgId);
    this.#inFlight.delete(pending.msgId);
    const i = this.#queue.indexOf(pending);
    if (i !== -1) this.#queue.splice(i, 1);
    clearTimeout(pending.timer);
    if (pending.retryTimer) clearTimeout(pending.retryTimer);
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
  }
}

function refusal(msgId: string, code: string, reason: string | undefined): CimClientError {
  const text = `server refused message ${msgId} (${code})${reason ? `: ${reason}` : ''}`;
  const options = { serverCode: code, retryable: false };
  switch (code) {
    case Codes.RECEIVER_UNKNOWN.code:
      return new CimClientError(ClientErrorCode.RECEIVER_UNKNOWN, text, options);
    case Codes.OFF_LINE.code:
      return new CimClientError(ClientErrorCode.RECEIVER_OFFLINE, text, options);
    case Codes.VALIDATION_FAIL.code:
      return new CimClientError(ClientErrorCode.INVALID_ARGUMENT, text, options);
    default:
      return new CimClientError(ClientErrorCode.SEND_REFUSED, text, options);
  }
}

export function parseSeq(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,15}$/.test(value)) return undefined;
  const n = Number(value);
  return n > 0 ? n : undefined;
}

function invalid(message: string): CimClientError {
  return new CimClientError(ClientErrorCode.INVALID_ARGUMENT, message);
}
