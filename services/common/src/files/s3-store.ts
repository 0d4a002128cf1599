/**
 * FileStore on an S3-compatible object store (`--file-store s3://bucket?endpoint=...&region=...`) through
 * @aws-sdk/client-s3; credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY env
 * vars, profiles, IRSA). Object key <prefix><fileId>; the meta travels as x-amz-meta-* headers (names
 * percent-encoded: metadata is ASCII). An upload is buffered up to --max-file-bytes (20 MiB by default) so its
 * size and sha256 are known before the PUT, and nothing is stored when it is too large. The SDK is loaded at
 * the first use: it is about 35 MiB of memory that a route without S3 never needs.
 */
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { Measure } from './dir-store.ts';
import { FILE_ID, newFileId, parseMeta, type FileInfo, type FileMeta, type FileStore } from './types.ts';

export interface S3StoreOptions {
  readonly bucket: string;
  readonly prefix?: string;
  /** endpoint URL of an S3-compatible service (MinIO, Ceph, R2…); absent = AWS */
  readonly endpoint?: string | undefined;
  readonly region?: string | undefined;
  /** path-style URLs (endpoint/bucket/key), the default with an endpoint */
  readonly forcePathStyle?: boolean;
  /** tests only; production takes the default credential chain */
  readonly credentials?: S3ClientConfig['credentials'];
  readonly now?: () => number;
}

export class S3FileStore implements FileStore {
  readonly #o: S3StoreOptions;
  #client: Promise<{ sdk: typeof import('@aws-sdk/client-s3'); s3: S3Client }> | undefined;

  constructor(options: S3StoreOptions) {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(options.bucket)) throw new Error(`--file-store: "${options.bucket}" is not an S3 bucket name`);
    this.#o = options;
  }

  #connect(): Promise<{ sdk: typeof import('@aws-sdk/client-s3'); s3: S3Client }> {
    const o = this.#o;
    this.#client ??= import('@aws-sdk/client-s3').then((sdk) => ({
      sdk,
      s3: new sdk.S3Client({
        region: o.region ?? 'us-east-1',
        ...(o.endpoint ? { endpoint: o.endpoint } : {}),
        forcePathStyle: o.forcePathStyle ?? o.endpoint !== undefined,
        ...(o.credentials ? { credentials: o.credentials } : {}),
      }),
    }));
    return this.#client;
  }

  get describe(): string {
    return `s3://${this.#o.bucket}${this.#o.endpoint ? ` at ${this.#o.endpoint}` : ''}`;
  }

  #key(fileId: string): string {
    return `${this.#o.prefix ?? ''}${fileId}`;
  }

  async put(body: Readable, info: FileInfo, maxBytes: number): Promise<FileMeta> {
    const measure = new Measure(maxBytes);
    const chunks: Buffer[] = [];
    for await (const chunk of body.pipe(measure) as AsyncIterable<Buffer>) chunks.push(chunk);
    // pipe() does not forward the source's errors: an aborted upload must not be stored as a short file.
    if (body.errored) throw body.errored;
    const fileId = newFileId();
    const meta: FileMeta = { fileId, name: info.name, type: info.type, owner: info.owner, size: measure.size, sha256: measure.digest(), createdAt: (this.#o.now ?? Date.now)() };
    const { sdk, s3 } = await this.#connect();
    await s3.send(new sdk.PutObjectCommand({
      Bucket: this.#o.bucket,
      Key: this.#key(fileId),
      Body: Buffer.concat(chunks),
      ContentType: 'application/octet-stream',
      Metadata: { name: encodeURIComponent(meta.name), type: meta.type, owner: String(meta.owner), size: String(meta.size), sha256: meta.sha256, created: String(meta.createdAt) },
    }));
    return meta;
  }

  async get(fileId: string): Promise<{ meta: FileMeta; body: Readable } | undefined> {
    if (!FILE_ID.test(fileId)) return undefined;
    let answer;
    try {
      const { sdk, s3 } = await this.#connect();
      answer = await s3.send(new sdk.GetObjectCommand({ Bucket: this.#o.bucket, Key: this.#key(fileId) }));
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey' || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
      throw err;
    }
    const m = answer.Metadata ?? {};
    let name: string | undefined;
    try {
      name = m['name'] === undefined ? undefined : decodeURIComponent(m['name']);
    } catch {
      name = undefined;
    }
    const meta = parseMeta({ name, type: m['type'], owner: Number(m['owner']), size: Number(m['size']), sha256: m['sha256'], createdAt: Number(m['created']) }, fileId);
    const body = answer.Body;
    if (!meta || !(body instanceof Readable)) {
      if (body instanceof Readable) body.destroy();
      return undefined;
    }
    return { meta, body };
  }
}
