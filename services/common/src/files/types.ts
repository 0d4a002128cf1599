/**
 * FileStore: where file and image messages' bytes live (docs/delivery.md "File messages"). The route streams
 * an upload in with put() and a download out with get(); messages carry only the id, name, size, type and a
 * download token (attachment.ts). Ids are generated here, never taken from a client, so no client string is
 * ever part of a path or an object key.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';

/** What the uploader says about a file (validated by the route: policy.ts). */
export interface FileInfo {
  readonly name: string;
  readonly type: string;
  /** the uploader's userId */
  readonly owner: number;
}

export interface FileMeta extends FileInfo {
  readonly fileId: string;
  readonly size: number;
  /** hex sha256 of the bytes, computed while storing */
  readonly sha256: string;
  /** ms since epoch */
  readonly createdAt: number;
}

export interface FileStore {
  /** Stores the stream's bytes (at most maxBytes: more rejects with FileTooLargeError and stores nothing). */
  put(body: Readable, info: FileInfo, maxBytes: number): Promise<FileMeta>;
  /** The file and its bytes; undefined when no file has this id (or the id is not one this store makes). */
  get(fileId: string): Promise<{ meta: FileMeta; body: Readable } | undefined>;
  /** A human-readable name of the backend for logs, never a credential. */
  readonly describe: string;
}

export class FileTooLargeError extends Error {
  readonly maxBytes: number;
  constructor(maxBytes: number) {
    super(`file larger than ${maxBytes} bytes`);
    this.maxBytes = maxBytes;
    this.name = 'FileTooLargeError';
  }
}

export { FILE_ID } from './attachment.ts';
export const newFileId = (): string => randomBytes(16).toString('base64url');

/** A stored meta record read back (a JSON sidecar or S3 metadata): undefined unless every field is sound. */
export function parseMeta(value: unknown, fileId: string): FileMeta | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const m = value as Record<string, unknown>;
  const ok =
    typeof m['name'] === 'string' && typeof m['type'] === 'string' && typeof m['sha256'] === 'string' &&
    Number.isSafeInteger(m['owner']) && Number.isSafeInteger(m['size']) && (m['size'] as number) >= 0 && Number.isSafeInteger(m['createdAt']);
  if (!ok) return undefined;
  return { fileId, name: m['name'] as string, type: m['type'] as string, owner: m['owner'] as number, size: m['size'] as number, sha256: m['sha256'] as string, createdAt: m['createdAt'] as number };
}
