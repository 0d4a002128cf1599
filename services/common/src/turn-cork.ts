/**
 * Coalesces what is written to one socket in one event-loop iteration into one write syscall (a server's frames
 * to a client; a Redis connection's commands, redis-cork.ts): the first write corks the socket, and it is
 * uncorked in the iteration's check phase, after every I/O callback of the iteration ran (a login replay, the
 * MESSAGE_ACKs of a batch of Redis replies, a push batch, receipts): at most one iteration later than an
 * immediate write, and one syscall instead of one per frame.
 *
 * A small object per socket, not closures: an idle connection should cost as little heap as possible.
 */
import type { Writable } from 'node:stream';

export class TurnCork {
  readonly #socket: Writable;
  #corked = false;

  constructor(socket: Writable) {
    this.#socket = socket;
  }

  /** Corks the socket until this iteration's check phase (once per iteration, however many writes). */
  cork(): void {
    if (this.#corked) return;
    this.#corked = true;
    this.#socket.cork();
    setImmediate(uncorkTurn, this);
  }

  uncork(): void {
    this.#corked = false;
    this.#socket.uncork();
  }
}

function uncorkTurn(cork: TurnCork): void {
  cork.uncork();
}
