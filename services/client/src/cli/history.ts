/**
 * Local chat history, CIM's AsyncMsgLogger done right (reference §8.7, §12 item 14): one file per user
 * per day, named with a zero-padded date (`20261122.log`, so 2024-1-12 and 2024-11-2 no longer collide),
 * and every line says when, which direction and with whom:
 *
 *   2026-11-22T20:43:03.123+01:00 <TAB> out <TAB> bob(1700000000001) <TAB> text
 *
 * Directions: `in` (received), `out` (sent and acknowledged). The peer of a group message we sent is
 * `*all*`. Tabs, newlines and backslashes in the text are escaped so one message is one line.
 * Appends are serialised through one promise chain so lines never interleave.
 */
import { appendFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { formatIsoLocal } from './render.ts';

export type Direction = 'in' | 'out';

export interface HistoryEntry {
  readonly at: Date;
  readonly direction: Direction;
  readonly peer: string;
  readonly text: string;
}

export const GROUP_PEER = '*all*';

/** The XDG data directory for history: $XDG_DATA_HOME/cim/history, else ~/.local/share/cim/history. */
export function defaultHistoryDir(env: Readonly<Record<string, string | undefined>>): string {
  const xdg = env['XDG_DATA_HOME'];
  const base = xdg && xdg.startsWith('/') ? xdg : join(env['HOME'] ?? homedir(), '.local', 'share');
  return join(base, 'cim', 'history');
}

/** "20261122.log" for the local date of `date`. */
export function historyFileName(date: Date): string {
  return `${date.getFullYear()}${String(date.getMonth() + 1).padStart(2, '0')}${String(date.getDate()).padStart(2, '0')}.log`;
}

/** A user name as one safe path segment (no separators, no "." or ".."). */
export function userDirName(userName: string): string {
  const safe = userName.replace(/[^A-Za-z0-9._@-]/g, (c) => `%${c.codePointAt(0)!.toString(16).padStart(2, '0')}`);
  return safe === '.' || safe === '..' ? safe.replaceAll('.', '%2e') : safe;
}

export function formatHistoryLine(entry: HistoryEntry): string {
  const text = entry.text.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]!);
  return `${formatIsoLocal(entry.at)}\t${entry.direction}\t${entry.peer}\t${text}`;
}

export class History {
  readonly dir: string;
  #chain: Promise<void> = Promise.resolve();
  #failed = false;
  readonly #onError: (err: Error) => void;

  /** @param root the history root (--history-dir or the XDG default); files go to root/<userName>/. */
  constructor(root: string, userName: string, onError: (err: Error) => void) {
    this.dir = join(root, userDirName(userName));
    this.#onError = onError;
  }

  append(entry: HistoryEntry): void {
    const line = formatHistoryLine(entry) + '\n';
    const file = join(this.dir, historyFileName(entry.at));
    this.#chain = this.#chain.then(async () => {
      try {
        await mkdir(this.dir, { recursive: true });
        await appendFile(file, line, 'utf8');
      } catch (err) {
        // Report once: a full disk should not flood the chat.
        if (!this.#failed) this.#onError(err as Error);
        this.#failed = true;
      }
    });
  }

  /** Resolves when everything appended so far is on disk. */
  flush(): Promise<void> {
    return this.#chain;
  }

  /** Lines (oldest first) whose text contains `keyword`, case-insensitively. */
  async search(keyword: string): Promise<string[]> {
    await this.flush();
    let files: string[];
    try {
      files = (await readdir(this.dir)).filter((f) => /^\d{8}\.log$/.test(f)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const needle = keyword.toLowerCase();
    const found: string[] = [];
    for (const file of files) {
      const content = await readFile(join(this.dir, file), 'utf8');
      for (const line of content.split('\n')) {
        if (line !== '' && line.toLowerCase().includes(needle)) found.push(line);
      }
    }
    return found;
  }
}
