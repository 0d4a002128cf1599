/**
 * A SeenStore kept in a file under the user's history directory, so a restarted `cim chat` does not show
 * again what the server pushes again (a message displayed just before a crash, before its ack went out).
 * One key per line; loaded once at start, appended synchronously (a line per message shown is cheap for
 * a console chat, and a crash right after the display cannot lose it), and compacted to the newest
 * `capacity` keys when the file has grown to twice that.
 *
 * A terminal is not transactional: printing a line and recording it are two writes, and a SIGKILL can fall
 * between them. So a display is bracketed: `begin(key)` writes `?key` before printing, `add(key)` writes
 * `key` after. A key begun and never added was being printed when the process died: the next run shows it
 * again, flagged as possibly seen (`wasInterrupted`), instead of silently twice or not at all.
 */
import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DEFAULT_SEEN_CAPACITY, MemorySeenStore, type SeenStore } from '../sdk/seen-store.ts';

const KEY = /^\d{1,16}:[A-Za-z0-9_-]{1,64}$/;
const BEGUN = '?';

export class FileSeenStore implements SeenStore {
  readonly #file: string;
  readonly #memory: MemorySeenStore;
  readonly #onError: (err: Error) => void;
  #failed = false;
  /** Keys whose display began in an earlier run and was never recorded as done. */
  readonly #interrupted = new Set<string>();

  constructor(file: string, onError: (err: Error) => void, capacity = DEFAULT_SEEN_CAPACITY) {
    this.#file = file;
    this.#onError = onError;
    this.#memory = new MemorySeenStore(capacity);
    let raw: string[] = [];
    try {
      raw = readFileSync(file, 'utf8').split('\n');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#report(err as Error);
    }
    const lines: string[] = [];
    for (const line of raw) {
      if (KEY.test(line)) {
        lines.push(line);
        this.#interrupted.delete(line);
      } else if (line.startsWith(BEGUN) && KEY.test(line.slice(1))) {
        this.#interrupted.add(line.slice(1));
      }
    }
    for (const key of lines) if (!this.#interrupted.has(key)) this.#memory.add(key);
    if (lines.length > 2 * capacity) this.#compact([...lines.slice(-capacity), ...[...this.#interrupted].map((k) => `${BEGUN}${k}`)]);
  }

  has(key: string): boolean {
    return this.#memory.has(key);
  }

  /** Before the display: marks `key` as being shown (see the class comment). */
  begin(key: string): void {
    if (KEY.test(key)) this.#append(`${BEGUN}${key}`);
  }

  /** true when an earlier run died while showing `key`: the user may have seen it already. */
  wasInterrupted(key: string): boolean {
    return this.#interrupted.has(key);
  }

  add(key: string): void {
    this.#memory.add(key);
    this.#interrupted.delete(key);
    if (KEY.test(key)) this.#append(key); // only keys that read back as one line
  }

  #append(line: string): void {
    try {
      mkdirSync(dirname(this.#file), { recursive: true });
      appendFileSync(this.#file, `${line}\n`, 'utf8');
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
