/** A writable that records text and lets a test wait for a pattern, failing with everything seen so far. */
import { Writable } from 'node:stream';

export class TextSink extends Writable {
  text = '';
  readonly #waiters = new Set<() => void>();

  constructor() {
    super({ decodeStrings: false });
  }

  override _write(chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.text += typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    for (const wake of this.#waiters) wake();
    callback();
  }

  /** Resolves with the match once the text (from `from` on) matches; rejects after timeoutMs with the text so far. */
  waitFor(pattern: RegExp | string, timeoutMs = 5_000, from = 0): Promise<string> {
    const error = new Error(`timed out waiting for ${String(pattern)}`);
    Error.captureStackTrace(error, this.waitFor);
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const rest = this.text.slice(from);
        const match = typeof pattern === 'string' ? (rest.includes(pattern) ? pattern : undefined) : pattern.exec(rest)?.[0];
        if (match === undefined) return false;
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve(match);
        return true;
      };
      const wake = (): void => void check();
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        error.message += `\n--- text so far ---\n${this.text}`;
        reject(error);
      }, timeoutMs);
      this.#waiters.add(wake);
      check();
    });
  }
}
