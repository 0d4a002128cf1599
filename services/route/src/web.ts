/**
 * The web chat client (services/web, bundled into dist/web by scripts/build-web.mjs) served by the route
 * under /app/, with `/` redirecting there. The page talks only to this origin: the route's HTTP API and
 * its WebSocket relay (/relay), so one port (one port-forward) is all a browser needs.
 *
 * Headers: @fastify/helmet in this plugin's own scope (the JSON API keeps its headers as they were) with a
 * Content-Security-Policy that allows exactly what the page uses — its own script and stylesheet, and
 * connections to 'self' (fetch and the relay's ws:/wss:) plus any `connectSrc` configured for servers
 * reached directly. Caching: bundle files carry a content hash in their name and are immutable for a year;
 * index.html is revalidated on every load so a new build is picked up at once.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import helmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

export const WEB_PREFIX = '/app/';

export interface WebOptions {
  /** Directory holding index.html and the bundle; default dist/web of this checkout (or of this build). */
  readonly root?: string;
  /** Extra CSP connect-src sources (e.g. ws://servers:8081 when a page dials servers directly). */
  readonly connectSrc?: readonly string[];
}

/** dist/web: from source (services/route/src) it is <repo>/dist/web, from a build (dist/services/route/src) dist/web too. */
export function defaultWebRoot(): string {
  const up = fileURLToPath(new URL('../../../', import.meta.url));
  return basename(up) === 'dist' ? join(up, 'web') : join(up, 'dist', 'web');
}

/** CSP source expressions: scheme://host[:port] only, so no configuration can smuggle in another directive. */
const SOURCE = /^(https?|wss?):\/\/[a-z0-9.\-[\]:*]+$/i;

export function contentSecurityPolicy(connectSrc: readonly string[] = []): Record<string, string[]> {
  for (const s of connectSrc) if (!SOURCE.test(s)) throw new Error(`connect-src "${s}" must be scheme://host[:port]`);
  return {
    'default-src': ["'none'"],
    'script-src': ["'self'"],
    'style-src': ["'self'"],
    'img-src': ["'self'", 'data:'],
    'connect-src': ["'self'", ...connectSrc],
    'manifest-src': ["'self'"],
    'base-uri': ["'none'"],
    'form-action': ["'none'"],
    'frame-ancestors': ["'none'"],
  };
}

export async function registerWeb(app: FastifyInstance, options: WebOptions = {}): Promise<void> {
  const root = options.root ?? defaultWebRoot();
  const directives = contentSecurityPolicy(options.connectSrc);
  await app.register(async (web) => {
    await web.register(helmet, {
      contentSecurityPolicy: { useDefaults: false, directives },
      // The page is served over plain http in development and behind a TLS ingress in production: HSTS is the ingress's call.
      strictTransportSecurity: false,
      crossOriginEmbedderPolicy: false,
    });
    // The query goes along (`/?via=auto` is a link users share); only its own characters, never a second path.
    web.get('/', { schema: { hide: true } }, async (req, reply) => {
      const q = req.url.indexOf('?');
      return reply.redirect(q >= 0 ? `${WEB_PREFIX}?${new URLSearchParams(req.url.slice(q + 1)).toString()}` : WEB_PREFIX, 302);
    });
    if (!existsSync(join(root, 'index.html'))) {
      // A route started from a checkout without `make build`: say so instead of a bare 404.
      web.get(`${WEB_PREFIX}*`, { schema: { hide: true } }, async (_req, reply) =>
        reply.code(503).type('text/plain; charset=utf-8').send('The web client is not built: run `make build` (scripts/build-web.mjs).\n'),
      );
      return;
    }
    await web.register(fastifyStatic, {
      root,
      prefix: WEB_PREFIX,
      index: ['index.html'],
      schemaHide: true,
      setHeaders(reply, path) {
        const hashed = /-[A-Z0-9]{8,}\.(js|css|map)$/i.test(path);
        reply.header('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
      },
      cacheControl: false,
    });
  });
}
