/** --file-store: `dir:<path>` (local directory) or `s3://bucket[/prefix]?endpoint=...&region=...`. */
import { DirFileStore } from './dir-store.ts';
import { S3FileStore } from './s3-store.ts';
import type { FileStore } from './types.ts';

export function fileStoreOf(spec: string): FileStore {
  if (spec.startsWith('dir:')) return new DirFileStore(spec.slice('dir:'.length));
  if (spec.startsWith('s3://')) {
    let url: URL;
    try {
      url = new URL(spec);
    } catch {
      throw new Error(`--file-store: "${spec}" is not a URL`);
    }
    const prefix = url.pathname.replace(/^\/+/, '');
    const endpoint = url.searchParams.get('endpoint') ?? undefined;
    if (endpoint !== undefined && !/^https?:\/\//.test(endpoint)) throw new Error('--file-store: endpoint must be an http(s) URL');
    return new S3FileStore({
      bucket: url.hostname,
      prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`,
      endpoint,
      region: url.searchParams.get('region') ?? undefined,
      ...(url.searchParams.has('pathStyle') ? { forcePathStyle: url.searchParams.get('pathStyle') !== 'false' } : {}),
    });
  }
  throw new Error(`--file-store: "${spec}" is neither dir:<path> nor s3://bucket?endpoint=...&region=...`);
}
