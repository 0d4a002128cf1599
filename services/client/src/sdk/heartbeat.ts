/**
 * Liveness of one connection. CIM pings after 10 s without writing and never checks the answer, so a
 * half-open connection (peer gone, no FIN) goes unnoticed (reference §2.4, §12 item 8). Here a PING goes
 * out when the connection has been idle in *either* direction for `intervalMs` (write-idle keeps the
 * server's eviction timer happy; read-idle catches a dead peer while we keep writing), and when nothing
 * at all arrives within `pongTimeoutMs` after a PING the connection is declared dead.
 *
 * One timer, re-armed lazily: noteRead/noteWrite only record times, so the hot path costs no timer calls.
 */

export interface HeartbeatOptions {
  readonly intervalMs: number;
  readonly pongTimeoutMs: number;
  /** Writes a PING frame. */
  readonly sendPing: () => void;
  /** Called once when no frame arrived in time after a PING; the heartbeat is stopped by then. */
  readonly onDead: (silentForMs: number) => void;
  readonly now?: () => number;
}

export class Heartbeat {
  readonly #options: HeartbeatOptions;
  readonly #now: () => number;
  #lastReadAt = 0;
  #lastWriteAt = 0;
  #pingSentAt: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(options: HeartbeatOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    const now = this.#now();
    this.#lastReadAt = now;
    this.#lastWriteAt = now;
    this.#pingSentAt = undefined;
    this.#running = true;
    this.#arm(this.#options.intervalMs);
  }

  stop(): void {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Any inbound frame proves the peer is alive, not only a pong. */
  noteRead(): void {
    this.#lastReadAt = this.#now();
    this.#pingSentAt = undefined;
  }

  noteWrite(): void {
    this.#lastWriteAt = this.#now();
  }

  #arm(delayMs: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#check(), Math.max(1, delayMs));
    this.#timer.unref?.();
  }

  #check(): void {
    this.#timer = undefined;
    if (!this.#running) return;
    const now = this.#now();
    if (this.#pingSentAt !== undefined) {
      const deadline = this.#pingSentAt + this.#options.pongTimeoutMs;
      if (now >= deadline) {
        this.stop();
        this.#options.onDead(now - this.#lastReadAt);
        return;
      }
      this.#arm(deadline - now);
      return;
    }
    const due = Math.min(this.#lastReadAt, this.#lastWriteAt) + this.#options.intervalMs;
    if (now < due) {
      this.#arm(due - now);
      return;
    }
    this.#pingSentAt = now;
    this.#options.sendPing();
    this.noteWrite();
    this.#arm(this.#options.pongTimeoutMs);
  }
}
