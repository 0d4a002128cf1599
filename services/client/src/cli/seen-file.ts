/**
 * A SeenStore kept in a file under the user's history directory, so a restarted `cim chat` does not show
 * again what the server pushes again (a message displayed just before a crash, before its ack went out).
 * One key per line; loaded once at start, appended synchronously (a line per message shown is cheap for
 * a console chat, and a crash right after the display cannot lose it), and compacted to the newest
 * `capacity` keys when the file has grown to twice that.
 */
import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DEFAULT_SEEN_CAPACITY, MemorySeenStore, type SeenStore } from '../sdk/seen-store.ts';

const KEY = /^\d{1,16}:[A-Za-z0-9_-]{1,64}$/;

export class FileSeenStore implements SeenStore {
  readonly #file: string;
  readonly #memory: MemorySeenStore;
  readonly #onError: (err: Error) => void;
  #failed = false;

  constructor(file: string, onError: (err: Error) => void, capacity = DEFAULT_SEEN_CAPACITY) {
    this.#file = file;
    this.#onError = onError;
    this.#memory = new MemorySeenStore(capacity);
    let lines: string[] = [];
    try {
      lines = readFileSync(file, 'utf8').split('\n').filter((l) => KEY.test(l));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#report(err as Error);
    }
    for (const key of lines) this.#memory.add(key);
    if (lines.length > 2 * capacity) this.#compact(lines.slice(-capacity));
  }

  has(key: string): boolean {
    return this.#memory.has(key);
  }

  add(key: string): void {
    this.#memory.add(key);
    if (!KEY.test(key)) return; // only keys that read back as one line
    try {
      mkdirSync(dirname(this.#file), { recursive: true });
      appendFileSync(this.#file, `${key}\n`, 'utf8');
    } catch (err) {
      this.#report(err as Error);
    }
  }

  #compact(keys: string[]): void {
    try {
      const tmp = `${this.#file}.tmp`;
      writeFileSync(tmp, keys.map((k) => `${k}\n`).join(''), 'utf8');
      renameSync(tmp, this.#file);
    } catch (err) {
      this.#report(err as Error);
    }
  }

  /** Reports once: a full disk should not flood the chat; dedup still works in memory. */
  #report(err: Error): void {
    if (!this.#failed) this.#onError(err);
    this.#failed = true;
  }
}
