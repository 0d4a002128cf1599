/** The S3 backend's requests, against a fake S3 on 127.0.0.1 (no S3 is reachable from the tests). */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3FileStore } from './s3-store.ts';
import { fileStoreOf } from './select.ts';
import { FileTooLargeError } from './types.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}
const seen: Seen[] = [];
const objects = new Map<string, { body: Buffer; headers: IncomingHttpHeaders }>();
let server: Server;
let endpoint: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers });
      const key = req.url!.split('?')[0]!;
      if (req.method === 'PUT') {
        objects.set(key, { body: Buffer.concat(chunks), headers: req.headers });
        res.writeHead(200, { etag: '"e"' }).end();
        return;
      }
      const obj = objects.get(key);
      if (req.method === 'GET' && obj) {
        const meta = Object.fromEntries(Object.entries(obj.headers).filter(([k]) => k.startsWith('x-amz-meta-')));
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(obj.body.length), ...meta }).end(obj.body);
        return;
      }
      res.writeHead(404, { 'content-type': 'application/xml' }).end('<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>no</Message></Error>');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const store = () => new S3FileStore({ bucket: 'cim-files', prefix: 'chat/', endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' }, now: () => 42 });

describe('S3FileStore', () => {
  it('PUTs the object path-style under the prefix, signed, with the meta as x-amz-meta headers, and GETs it back', async () => {
    const bytes = randomBytes(200_000);
    const meta = await store().put(Readable.from([bytes]), { name: 'résumé 1.pdf', type: 'application/pdf', owner: 9 }, 1_000_000);
    expect(meta).toMatchObject({ name: 'résumé 1.pdf', size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), owner: 9, createdAt: 42 });
    const put = seen.find((s) => s.method === 'PUT')!;
    expect(put.url.split('?')[0]).toBe(`/cim-files/chat/${meta.fileId}`);
    expect(put.headers['authorization']).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/eu-west-1\/s3\/aws4_request/);
    expect(put.headers['x-amz-meta-name']).toBe(encodeURIComponent('résumé 1.pdf'));
    expect(put.headers['x-amz-meta-sha256']).toBe(meta.sha256);
    const got = await store().get(meta.fileId);
    expect(got?.meta).toEqual(meta);
    expect((await buffer(got!.body)).equals(bytes)).toBe(true);
  });

  it('answers undefined for an unknown or malformed id (never asks S3 for a client string)', async () => {
    const before = seen.length;
    expect(await store().get('../../etc/passwd')).toBeUndefined();
    expect(seen.length).toBe(before);
    expect(await store().get('B'.repeat(22))).toBeUndefined();
    expect(seen.length).toBe(before + 1);
  });

  it('stores nothing when the upload is too large', async () => {
    const before = seen.length;
    await expect(store().put(Readable.from([randomBytes(2000)]), { name: 'a', type: 'text/plain', owner: 1 }, 1000)).rejects.toBeInstanceOf(FileTooLargeError);
    expect(seen.length).toBe(before);
  });

  it('is selected by --file-store s3://bucket/prefix?endpoint=&region=, and a bad spec fails at start', () => {
    expect(fileStoreOf(`s3://cim-files/chat?endpoint=${encodeURIComponent(endpoint)}&region=eu-west-1`).describe).toBe(`s3://cim-files at ${endpoint}`);
    expect(fileStoreOf('dir:/tmp/x').describe).toBe('dir:/tmp/x');
    expect(() => fileStoreOf('ftp://x')).toThrow(/neither/);
    expect(() => fileStoreOf('s3://Bad_Bucket')).toThrow(/bucket/);
    expect(() => fileStoreOf('s3://bucket?endpoint=file:///etc')).toThrow(/endpoint/);
  });
});
