/** `:delay` messages of `cim chat`: timers that send later, cancellable all at once on quit. */
export class DelayedSends<M> {
  readonly #send: (message: M) => Promise<void>;
  readonly #timers = new Map<number, { timer: NodeJS.Timeout; done: () => void }>();
  readonly #pending = new Set<Promise<void>>();
  #nextId = 1;

  /** `send` must not reject (it reports its own failures). */
  constructor(send: (message: M) => Promise<void>) {
    this.#send = send;
  }

  /** Messages whose timer has not fired yet. */
  get size(): number {
    return this.#timers.size;
  }

  /** Sends `message` after `seconds`; returns its number (1, 2, …). */
  schedule(seconds: number, message: M): number {
    const id = this.#nextId++;
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    this.#pending.add(finished);
    void finished.then(() => this.#pending.delete(finished));
    const timer = setTimeout(() => {
      this.#timers.delete(id);
      void this.#send(message).finally(done);
    }, seconds * 1000);
    this.#timers.set(id, { timer, done });
    return id;
  }

  /** Resolves when every scheduled message is sent or cancelled. */
  async settled(): Promise<void> {
    await Promise.all(this.#pending);
  }

  /** Cancels the messages not sent yet; returns how many. */
  cancelAll(): number {
    const cancelled = this.#timers.size;
    for (const { timer, done } of this.#timers.values()) {
      clearTimeout(timer);
      done();
    }
    this.#timers.clear();
    return cancelled;
  }
}
