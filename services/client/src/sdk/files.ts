/**
 * File messages' transfers (docs/delivery.md "File messages"): upload to the route's PUT /files, download from
 * GET /files/:fileId, both with this session's access token (Authorization: Bearer; an expired one is refreshed
 * once). The upload is held in memory (files are bounded by the route's --max-file-bytes, 20 MiB by default),
 * so a retry after a refresh sends the same bytes. A download is written to a temporary name, checked against
 * the size and sha256 the route stored, and only then given its name; an existing file is never overwritten.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Codes } from '../../../common/src/codes.ts';
import { checkAttachment, isFileName, isMediaType, type Attachment } from '../../../common/src/files/attachment.ts';
import { ClientErrorCode, CimClientError } from './errors.ts';

export type { Attachment } from '../../../common/src/files/attachment.ts';

export interface SendFileOptions {
  /** the name the receiver sees; default: the path's base name (required for a Buffer or stream) */
  readonly name?: string;
  /** media type; default: from the name's extension, else application/octet-stream */
  readonly type?: string;
  /** reuse an id to make a retried send recognisable as a duplicate */
  readonly msgId?: string;
  readonly timeoutMs?: number;
}

export interface Downloaded {
  /** where the file was written */
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export interface FileTransferDeps {
  readonly baseUrl: string;
  readonly fetch: typeof fetch;
  /** bound of one transfer, first byte to last */
  readonly timeoutMs: number;
  /** the logged-in user and the current access token (throws when there is no login) */
  readonly credentials: () => { userId: number; token: string | undefined };
  /** a new access token (after 9303) */
  readonly refresh: () => Promise<void>;
  readonly signal: () => AbortSignal;
}

const TYPES: Readonly<Record<string, string>> = {
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp',
  '.pdf': 'application/pdf', '.txt': 'text/plain', '.md': 'text/plain', '.log': 'text/plain', '.zip': 'application/zip',
};
export const typeOfName = (name: string): string => TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';

const invalid = (message: string) => new CimClientError(ClientErrorCode.INVALID_ARGUMENT, message);

/** What a refusal of the route says: its catalogue code (7500 too large, 7510 type, 7520 forbidden, 7530 unknown…). */
async function refusal(response: Response, what: string): Promise<CimClientError> {
  const text = await response.text().catch(() => '');
  let code: string | undefined;
  let message = text.slice(0, 200);
  try {
    const body = JSON.parse(text) as { code?: unknown; message?: unknown };
    if (typeof body.code === 'string') code = body.code;
    if (typeof body.message === 'string') message = body.message;
  } catch {
    // not an envelope: a proxy's page, say
  }
  if (code === undefined) return new CimClientError(ClientErrorCode.ROUTE_UNAVAILABLE, `${what} answered HTTP ${response.status}: ${message}`);
  return new CimClientError(ClientErrorCode.ROUTE_REJECTED, `${what} refused (${code}): ${message}`, { serverCode: code, retryable: code === Codes.FILE_STORE_UNAVAILABLE.code });
}

async function bytesOf(file: string | Buffer | Uint8Array | Readable): Promise<Buffer> {
  if (typeof file === 'string') return readFile(file);
  if (Buffer.isBuffer(file)) return file;
  if (file instanceof Uint8Array) return Buffer.from(file);
  if (file instanceof Readable) {
    const chunks: Buffer[] = [];
    for await (const chunk of file) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
    return Buffer.concat(chunks);
  }
  throw invalid('a file is a path, a Buffer or a readable stream');
}

/** A name that is safe as a single path component: no leading dot (hidden files), nothing that climbs. */
const localName = (name: string) => basename(name).replace(/^\.+/, '_') || 'file';

/** `dir/name`, or `dir/name-1.ext`, … when taken. */
async function freePath(dir: string, name: string): Promise<string> {
  const ext = extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let i = 0; i < 1000; i++) {
    const candidate = join(dir, i === 0 ? name : `${stem}-${i}${ext}`);
    if (!(await stat(candidate).then(() => true, () => false))) return candidate;
  }
  throw invalid(`no free name for ${name} in ${dir}`);
}

export class FileTransfer {
  readonly #d: FileTransferDeps;

  constructor(deps: FileTransferDeps) {
    this.#d = deps;
  }

  /** One authorized call, refreshed and repeated once when the token expired. */
  async #call(method: 'PUT' | 'GET', path: (userId: number) => string, body: Buffer | undefined, what: string): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const { userId, token } = this.#d.credentials();
      const timeout = AbortSignal.timeout(this.#d.timeoutMs);
      let response: Response;
      try {
        response = await this.#d.fetch(`${this.#d.baseUrl}/${path(userId)}`, {
          method,
          headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/octet-stream' } : {}) },
          // A copy typed as fetch wants it (Buffer's ArrayBufferLike is not a BodyInit); bounded by --max-file-bytes.
          body: body ? new Uint8Array(body) : null,
          signal: AbortSignal.any([this.#d.signal(), timeout]),
        });
      } catch (err) {
        if (timeout.aborted) throw new CimClientError(ClientErrorCode.TIMEOUT, `${what} took longer than ${this.#d.timeoutMs} ms`, { cause: err });
        throw new CimClientError(ClientErrorCode.ROUTE_UNAVAILABLE, `${what} failed: ${(err as Error).message}`, { cause: err });
      }
      if (response.ok) return response;
      const refused = await refusal(response, what);
      if (refused.serverCode !== Codes.TOKEN_EXPIRED.code || attempt > 0) throw refused;
      await this.#d.refresh();
    }
  }

  /** Uploads a file; the attachment to put in a message. */
  async upload(file: string | Buffer | Uint8Array | Readable, options: SendFileOptions = {}): Promise<Attachment> {
    const name = options.name ?? (typeof file === 'string' ? basename(file) : undefined);
    if (name === undefined) throw invalid('a file from a Buffer or stream needs options.name');
    if (!isFileName(name)) throw invalid(`"${name}" is not a file name (no control characters, no / or \\, at most 255 characters)`);
    const type = (options.type ?? typeOfName(name)).toLowerCase();
    if (!isMediaType(type)) throw invalid(`"${type}" is not a media type (type/subtype)`);
    const bytes = await bytesOf(file);
    const query = (userId: number) => `files?userId=${userId}&name=${encodeURIComponent(name)}&type=${encodeURIComponent(type)}`;
    const response = await this.#call('PUT', query, bytes, 'PUT /files');
    const answer = (await response.json().catch(() => undefined)) as { code?: string; dataBody?: Record<string, unknown> } | undefined;
    const data = answer?.dataBody;
    const attachment = checkAttachment({ fileId: data?.['fileId'], name, size: data?.['size'], type, token: data?.['token'] });
    if (answer?.code !== Codes.SUCCESS.code || !attachment) throw new CimClientError(ClientErrorCode.ROUTE_UNAVAILABLE, 'PUT /files answered without a sound file id and token');
    return attachment;
  }

  /**
   * Downloads an attachment into `destination`: a directory (the file keeps its name, `name-1.ext` when taken)
   * or a file path that must not exist yet. Rejects with ROUTE_REJECTED (7520 forbidden, 7530 unknown) and
   * leaves nothing behind when the bytes are not the ones stored.
   */
  async download(attachment: Attachment, destination: string): Promise<Downloaded> {
    const a = checkAttachment(attachment);
    if (!a) throw invalid('not an attachment of a file message');
    const isDir = await stat(destination).then((s) => s.isDirectory(), () => false);
    const target = isDir ? await freePath(destination, localName(a.name)) : destination;
    const response = await this.#call('GET', (userId) => `files/${a.fileId}?userId=${userId}&token=${encodeURIComponent(a.token)}`, undefined, `GET /files/${a.fileId}`);
    if (!response.body) throw new CimClientError(ClientErrorCode.ROUTE_UNAVAILABLE, 'GET /files answered without a body');
    const part = join(dirname(target), `.${basename(target)}.${process.pid}.part`);
    const hash = createHash('sha256');
    let size = 0;
    const measure = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), measure, createWriteStream(part, { flags: 'wx' }));
      const sha256 = hash.digest('hex');
      const expected = response.headers.get('x-cim-file-sha256');
      if ((expected !== null && expected !== sha256) || size !== a.size) throw new CimClientError(ClientErrorCode.ROUTE_UNAVAILABLE, `GET /files/${a.fileId}: got ${size} bytes that are not the file stored`);
      // Never over an existing file (link(2) semantics would be exact; a check right before is enough for a CLI).
      if (await stat(target).then(() => true, () => false)) throw invalid(`${target} exists`);
      await rename(part, target);
      return { path: target, size, sha256 };
    } catch (err) {
      await rm(part, { force: true });
      throw err;
    }
  }
}
