/**
 * FileStore on a local directory (tests, `cim up`, `--file-store dir:<path>`): <root>/<fileId> holds the bytes,
 * <root>/<fileId>.json the meta. An upload is written to a temporary name and renamed only when complete and
 * within the limit, so a reader never sees half a file. Paths are built from generated ids only (FILE_ID).
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FILE_ID, FileTooLargeError, newFileId, parseMeta, type FileInfo, type FileMeta, type FileStore } from './types.ts';

/** Counts and hashes what passes; fails with FileTooLargeError past maxBytes. */
export class Measure extends Transform {
  readonly #hash = createHash('sha256');
  #size = 0;
  readonly maxBytes: number;
  constructor(maxBytes: number) {
    super();
    this.maxBytes = maxBytes;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void): void {
    this.#size += chunk.length;
    if (this.#size > this.maxBytes) return done(new FileTooLargeError(this.maxBytes));
    this.#hash.update(chunk);
    done(null, chunk);
  }
  get size(): number {
    return this.#size;
  }
  digest(): string {
    return this.#hash.digest('hex');
  }
}

export class DirFileStore implements FileStore {
  readonly #root: string;
  readonly #now: () => number;
  #ready: Promise<unknown> | undefined;

  constructor(root: string, now: () => number = Date.now) {
    if (root === '') throw new Error('--file-store dir: needs a directory');
    this.#root = root;
    this.#now = now;
  }

  get describe(): string {
    return `dir:${this.#root}`;
  }

  async put(body: Readable, info: FileInfo, maxBytes: number): Promise<FileMeta> {
    await (this.#ready ??= mkdir(this.#root, { recursive: true }));
    const fileId = newFileId();
    const tmp = join(this.#root, `.${fileId}.part`);
    const measure = new Measure(maxBytes);
    try {
      await pipeline(body, measure, createWriteStream(tmp, { flags: 'wx' }));
      const meta: FileMeta = { fileId, name: info.name, type: info.type, owner: info.owner, size: measure.size, sha256: measure.digest(), createdAt: this.#now() };
      // Meta first: a data file without its meta is never served (get needs both).
      await writeFile(join(this.#root, `${fileId}.json`), JSON.stringify(meta), { flag: 'wx' });
      await rename(tmp, join(this.#root, fileId));
      return meta;
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async get(fileId: string): Promise<{ meta: FileMeta; body: Readable } | undefined> {
    if (!FILE_ID.test(fileId)) return undefined;
    let meta: FileMeta | undefined;
    try {
      meta = parseMeta(JSON.parse(await readFile(join(this.#root, `${fileId}.json`), 'utf8')), fileId);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || err instanceof SyntaxError) return undefined;
      throw err;
    }
    if (!meta) return undefined;
    const body = createReadStream(join(this.#root, fileId));
    // Opened before answering: a missing data file is "no such file", not a broken download.
    try {
      await new Promise<void>((resolve, reject) => body.once('open', () => resolve()).once('error', reject));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return { meta, body };
  }
}
