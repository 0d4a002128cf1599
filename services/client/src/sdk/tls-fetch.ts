/**
 * A `fetch` for the route calls that trusts a given CA (or, when asked, any certificate). Node's global
 * fetch cannot take a CA: it needs an undici Agent as `dispatcher`, and undici is not a dependency of
 * this project (Node bundles it but does not export it). node:https takes `ca` directly and is enough for
 * the route's small JSON calls. Node only: browser builds get transport-browser.ts instead.
 */
import { Agent, request } from 'node:https';
import { request as httpRequest } from 'node:http';
import type { ClientTls } from './endpoint.ts';

// Room for a file download (files.ts; the route's --max-file-bytes is 20 MiB by default).
const MAX_BODY_BYTES = 64 * 1024 * 1024;

export function tlsFetch(tls: ClientTls): typeof fetch {
  const agent = new Agent({ keepAlive: true, maxSockets: 8, rejectUnauthorized: tls.rejectUnauthorized, ...(tls.ca !== undefined ? { ca: tls.ca as string | Buffer | Array<string | Buffer> } : {}) });
  // Keep-alive sockets must not hold a finished process open.
  agent.on('free', (socket) => socket.unref());
  const call = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> =>
    new Promise((resolve, reject) => {
      const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
      const headers = Object.fromEntries(new Headers(init.headers ?? {}).entries());
      // The route API sends JSON strings; file uploads (files.ts) send bytes.
      const body = typeof init.body === 'string' || init.body instanceof Uint8Array ? init.body : undefined;
      if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
      const signal = init.signal ?? undefined;
      if (signal?.aborted) return reject(signal.reason);
      const options = { method: init.method ?? 'GET', headers, hostname: url.hostname.replace(/^\[|\]$/g, ''), port: url.port, path: `${url.pathname}${url.search}` };
      const onResponse = (res: import('node:http').IncomingMessage): void => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY_BYTES) return void req.destroy(new Error(`answer larger than ${MAX_BODY_BYTES} bytes`));
          chunks.push(c);
        });
        res.on('error', reject);
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
          resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 502, headers: h }));
        });
      };
      // An http:// route URL with a CA given is still plain HTTP: the CA only matters for https.
      const req = url.protocol === 'https:' ? request({ ...options, agent }, onResponse) : httpRequest(options, onResponse);
      const onAbort = (): void => void req.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('close', () => signal?.removeEventListener('abort', onAbort));
      req.on('error', reject);
      req.end(body);
    });
  return call as typeof fetch;
}
