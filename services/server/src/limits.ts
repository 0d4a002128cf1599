/**
 * What one client may cost a server: a frame rate with a burst (token bucket) and a cut-off for clients
 * that keep flooding after being refused; a bound on frames read but not yet handled (read backpressure);
 * and connections per remote address. Pure bookkeeping: the node and the transports act on the answers.
 */

export interface RateLimitOptions {
  /** frames per second a connection may send on average; 0 = unlimited */
  readonly maxMsgRate: number;
  /** frames a connection may send at once above the average */
  readonly msgBurst: number;
}

/** Frames read but not handled yet, per connection, before the transport stops reading. */
export const MAX_PENDING_FRAMES = 64;
export const MAX_PENDING_BYTES = 4 * 1024 * 1024;

export class TokenBucket {
  readonly #rate: number;
  readonly #capacity: number;
  #tokens: number;
  #at: number;

  constructor(ratePerSec: number, capacity: number, now: number) {
    this.#rate = ratePerSec;
    this.#capacity = capacity;
    this.#tokens = capacity;
    this.#at = now;
  }

  take(now: number, cost = 1): boolean {
    if (now > this.#at) {
      this.#tokens = Math.min(this.#capacity, this.#tokens + ((now - this.#at) / 1000) * this.#rate);
      this.#at = now;
    }
    if (this.#tokens < cost) return false;
    this.#tokens -= cost;
    return true;
  }
}

export type Admission = 'accept' | 'refuse' | 'cut-off';

/**
 * What a RECEIPT costs against the frame rate. A receiver acknowledges (and the CLI marks read) every
 * message it is sent, so receipts arrive at the rate of incoming messages, which the client does not
 * choose; at full price a replayed inbox would get its own acknowledgements refused.
 */
export const RECEIPT_COST = 0.05;

/**
 * Per connection: frames beyond the rate are refused; refusals draw on a second bucket of the same size
 * and rate, so a client sending up to twice the rate is only refused, while one sending more is cut off
 * after about burst / rate seconds (a flooder at loopback speed within milliseconds).
 */
export class FrameRateLimiter {
  readonly #frames: TokenBucket | undefined;
  readonly #strikes: TokenBucket | undefined;

  constructor(o: RateLimitOptions, now: number) {
    if (o.maxMsgRate <= 0) return;
    const burst = Math.max(1, o.msgBurst);
    this.#frames = new TokenBucket(o.maxMsgRate, burst, now);
    this.#strikes = new TokenBucket(o.maxMsgRate, burst, now);
  }

  /** `cost` in frames: a receipt is a small fraction of a message (a client acknowledges what it is sent). */
  admit(now: number, cost = 1): Admission {
    if (!this.#frames || this.#frames.take(now, cost)) return 'accept';
    return this.#strikes!.take(now, cost) ? 'refuse' : 'cut-off';
  }
}

/** Frames queued for handling on one connection; says when to pause reading and when to resume. */
export class PendingFrames {
  #frames = 0;
  #bytes = 0;
  #paused = false;

  get frames(): number {
    return this.#frames;
  }
  get bytes(): number {
    return this.#bytes;
  }

  /** @returns true when the transport must stop reading now */
  add(bytes: number): boolean {
    this.#frames++;
    this.#bytes += bytes;
    if (this.#paused || (this.#frames < MAX_PENDING_FRAMES && this.#bytes < MAX_PENDING_BYTES)) return false;
    this.#paused = true;
    return true;
  }

  /** @returns true when the transport may read again (the queue drained to half its bounds) */
  done(bytes: number): boolean {
    this.#frames--;
    this.#bytes -= bytes;
    if (!this.#paused || this.#frames > MAX_PENDING_FRAMES / 2 || this.#bytes > MAX_PENDING_BYTES / 2) return false;
    this.#paused = false;
    return true;
  }
}

const kHeldAddress = Symbol('cim.heldAddress');
/** What `hold` needs of a socket; it keeps the counted address on it. */
export interface HoldableSocket {
  readonly remoteAddress?: string | undefined;
  on(event: 'close', listener: (this: HoldableSocket) => void): unknown;
  [kHeldAddress]?: string | undefined;
}

/** Open connections per remote address (IP), shared by the TCP and WebSocket transports. */
export class AddressLimiter {
  readonly #max: number;
  readonly #open = new Map<string, number>();
  /**
   * The close listener of every held socket: one function (`this` is the socket), the address kept on the
   * socket. Nothing else of the caller (an upgrade request) stays alive with it, and a connection costs no closure.
   */
  readonly #onClose: (this: HoldableSocket) => void;

  /** @param max connections per address; 0 = unlimited */
  constructor(max: number) {
    this.#max = max;
    const limiter = this;
    this.#onClose = function () {
      const address = this[kHeldAddress];
      if (address === undefined) return;
      this[kHeldAddress] = undefined;
      limiter.release(address);
    };
  }

  /** Counts a new connection from `address`; false (and nothing counted) when the address is at its limit. */
  tryAcquire(address: string): boolean {
    const n = this.#open.get(address) ?? 0;
    if (this.#max > 0 && n >= this.#max) return false;
    this.#open.set(address, n + 1);
    return true;
  }

  /** Counts `socket` against its remote address until it closes (once); false (nothing counted) at the limit. */
  hold(socket: HoldableSocket): boolean {
    const address = socket.remoteAddress ?? '';
    if (!this.tryAcquire(address)) return false;
    socket[kHeldAddress] = address;
    socket.on('close', this.#onClose);
    return true;
  }

  release(address: string): void {
    const n = this.#open.get(address) ?? 0;
    if (n <= 1) this.#open.delete(address);
    else this.#open.set(address, n - 1);
  }

  count(address: string): number {
    return this.#open.get(address) ?? 0;
  }
}
