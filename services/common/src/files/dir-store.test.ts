import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DirFileStore } from './dir-store.ts';
import { FILE_ID, FileTooLargeError } from './types.ts';

let root: string;
let store: DirFileStore;
const info = { name: 'photo.png', type: 'image/png', owner: 7 };

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'cim-files-'));
  store = new DirFileStore(join(root, 'store'), () => 1234);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('DirFileStore', () => {
  it('stores a stream and gives the same bytes back, with size, sha256 and a generated id', async () => {
    const bytes = randomBytes(300_000);
    const meta = await store.put(Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]), info, 1_000_000);
    expect(meta).toMatchObject({ ...info, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), createdAt: 1234 });
    expect(meta.fileId).toMatch(FILE_ID);
    const got = await store.get(meta.fileId);
    expect(got?.meta).toEqual(meta);
    expect((await buffer(got!.body)).equals(bytes)).toBe(true);
  });

  it('refuses more than maxBytes and keeps nothing, not even a partial file', async () => {
    await expect(store.put(Readable.from([randomBytes(600), randomBytes(600)]), info, 1000)).rejects.toBeInstanceOf(FileTooLargeError);
    expect(await readdir(join(root, 'store'))).toEqual([]);
    // exactly the limit is fine
    expect((await store.put(Readable.from([randomBytes(1000)]), info, 1000)).size).toBe(1000);
  });

  it('keeps nothing when the upload stream fails midway', async () => {
    const failing = new Readable({ read() {} });
    const put = store.put(failing, info, 10_000);
    failing.push(randomBytes(100));
    failing.destroy(new Error('client went away'));
    await expect(put).rejects.toThrow('client went away');
    expect(await readdir(join(root, 'store'))).toEqual([]);
  });

  it('makes path traversal impossible: only generated ids are looked up, anything else is unknown', async () => {
    // A file outside the store, and one a client might name.
    await writeFile(join(root, 'secret.json'), JSON.stringify({ name: 'x', type: 'text/plain', owner: 1, size: 1, sha256: 'a', createdAt: 1 }));
    await writeFile(join(root, 'secret'), 'x');
    const meta = await store.put(Readable.from([Buffer.from('hi')]), info, 100);
    for (const id of ['../secret', '..%2Fsecret', '/etc/passwd', `${meta.fileId}/../${meta.fileId}`, `${meta.fileId}.json`, '', '.', 'a'.repeat(23), `.${meta.fileId}.part`]) {
      expect(await store.get(id), id).toBeUndefined();
    }
    expect(await store.get('A'.repeat(22))).toBeUndefined(); // well-formed but never stored
  });

  it('treats a data file without its meta, or a broken meta, as no file', async () => {
    const meta = await store.put(Readable.from([Buffer.from('hi')]), info, 100);
    await writeFile(join(root, 'store', `${meta.fileId}.json`), '{not json');
    expect(await store.get(meta.fileId)).toBeUndefined();
    await writeFile(join(root, 'store', `${meta.fileId}.json`), JSON.stringify({ name: 'x' }));
    expect(await store.get(meta.fileId)).toBeUndefined();
  });
});
