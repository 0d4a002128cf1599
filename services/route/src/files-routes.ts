/**
 * File and image messages' bytes (docs/delivery.md "File messages"):
 *   PUT /files?userId=&name=&type=   Authorization: Bearer <access token>; the body is the file, streamed to the
 *                                     FileStore (at most --max-file-bytes: 413 + 7500); answers {fileId, size,
 *                                     sha256, token}, token being the download token the message then carries.
 *   GET /files/:fileId?userId=&token=  Authorization: Bearer <access token> of userId; streams the file back to a
 *                                     logged-in user who has the message's download token (403 + 7520 otherwise).
 * Downloads are always attachments (Content-Disposition: attachment, nosniff, a sandboxing CSP): a browser
 * never renders a stored file inline as a page of this origin. Password mode only: CIM's open mode cannot tell
 * who asks.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PassThrough, type Readable } from 'node:stream';
import { Codes, type WireCode } from '../../common/src/codes.ts';
import type { Clock } from '../../common/src/clock.ts';
import { isFileName, isMediaType } from '../../common/src/files/attachment.ts';
import { checkFileToken, FILE_TOKEN, issueFileToken } from '../../common/src/files/file-token.ts';
import { refusedFile } from '../../common/src/files/policy.ts';
import { FILE_ID, FileTooLargeError, type FileStore } from '../../common/src/files/types.ts';
import type { Logger } from '../../common/src/log.ts';
import { envelope } from '../../common/src/status.ts';
import type { RouteAuth } from './auth.ts';

export interface FileRoutesDeps {
  /** absent: file messages are off (no --file-store): both endpoints answer 404 + 7530 */
  readonly store: FileStore | undefined;
  readonly auth: RouteAuth;
  readonly secret: string;
  readonly maxBytes: number;
  readonly types: readonly string[];
  readonly tokenTtlMs: number;
  readonly clock: Clock;
  readonly log: Logger;
}

/** An upload over the limit is read on (and thrown away) up to this much more, so the client reads the 413; beyond, the connection is closed. */
const DRAIN_MAX_BYTES = 64 * 1024 * 1024;

const userIdParam = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;

const refuse = (reply: FastifyReply, http: number, code: WireCode, detail?: string) =>
  reply.code(http).send(envelope(code, null, detail ? `${code.message}: ${detail}` : code.message));

/** The access token from `Authorization: Bearer …`. */
function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  const m = typeof h === 'string' ? /^Bearer ([\x21-\x7e]{1,4096})$/.exec(h) : null;
  return m?.[1];
}

/**
 * The request body, cut at maxBytes: past it the returned stream fails with FileTooLargeError while the rest of
 * the request is read and dropped (`drained` settles when it is all in), so the answer can still be read.
 */
function limitedBody(raw: Readable, maxBytes: number): { body: Readable; drained: Promise<void> } {
  const body = new PassThrough();
  let size = 0;
  let over = false;
  const drained = new Promise<void>((resolve) => {
    raw.once('end', resolve);
    raw.once('close', resolve);
  });
  raw.on('data', (chunk: Buffer) => {
    if (over) return;
    size += chunk.length;
    if (size > maxBytes) {
      over = true;
      body.destroy(new FileTooLargeError(maxBytes));
      raw.resume();
      return;
    }
    if (!body.write(chunk)) {
      raw.pause();
      body.once('drain', () => raw.resume());
    }
  });
  raw.once('end', () => {
    if (!over) body.end();
  });
  // A client that goes away mid-upload: the store must not keep a short file.
  raw.once('close', () => {
    if (!raw.readableEnded && !over) body.destroy(new Error('upload aborted'));
  });
  raw.once('error', (err) => body.destroy(err));
  return { body, drained };
}

/** `attachment; filename="ascii"; filename*=UTF-8''…` (RFC 6266): the name, never a way to break the header. */
function disposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%;]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

export function registerFileRoutes(api: FastifyInstance, deps: FileRoutesDeps): void {
  const passwordMode = deps.auth.mode === 'password';
  /** Who asks: undefined when allowed, else the refusal already sent. */
  const caller = async (req: FastifyRequest, reply: FastifyReply, userId: number): Promise<boolean> => {
    if (!passwordMode) {
      refuse(reply, 401, Codes.UNAUTHORIZED, 'file messages need --auth password');
      return false;
    }
    const checked = await deps.auth.authorize(userId, bearer(req));
    if (!checked.ok) refuse(reply, 401, checked.code);
    return checked.ok;
  };

  api.register(async (scope) => {
    // The body is the file: handed over unparsed, as a stream (any content type the client sends).
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

    scope.put<{ Querystring: { userId: number; name: string; type: string } }>(
      '/files',
      {
        schema: {
          description: 'Uploads a file (the body, any Content-Type) for a file message; Authorization: Bearer <token of userId>. Answers {fileId, size, sha256, token}: put them in the message (fileId, fileName, fileSize, fileType, fileToken).',
          querystring: { type: 'object', required: ['userId', 'name', 'type'], additionalProperties: false, properties: { userId: userIdParam, name: { type: 'string', minLength: 1, maxLength: 255 }, type: { type: 'string', minLength: 3, maxLength: 129 } } },
        },
      },
      async (req, reply) => {
        const raw = req.raw;
        const { userId, name } = req.query;
        const type = req.query.type.toLowerCase();
        // Every refusal before the store reads the body drops it first (keep-alive stays usable).
        const early = async (http: number, code: WireCode, detail?: string) => {
          raw.resume();
          return refuse(reply, http, code, detail);
        };
        if (!(await caller(req, reply, userId))) return reply;
        if (!deps.store) return early(404, Codes.FILE_UNKNOWN, 'this cluster keeps no files (no --file-store)');
        if (!isFileName(name)) return early(400, Codes.VALIDATION_FAIL, 'name must be a file name (no control characters, no / or \\)');
        if (!isMediaType(type)) return early(400, Codes.VALIDATION_FAIL, 'type must be a media type (type/subtype)');
        const refused = refusedFile(name, type, deps.types);
        if (refused) return early(415, Codes.FILE_TYPE_REFUSED, refused);
        const declared = Number(req.headers['content-length']);
        if (Number.isFinite(declared) && declared > deps.maxBytes) {
          // Known to be too large before a byte is read: answered now; a body far too large is not read at all.
          if (declared > deps.maxBytes + DRAIN_MAX_BYTES) reply.header('connection', 'close');
          else raw.resume();
          return refuse(reply, 413, Codes.FILE_TOO_LARGE, `at most ${deps.maxBytes} bytes`);
        }
        const { body, drained } = limitedBody(raw, deps.maxBytes);
        try {
          const meta = await deps.store.put(body, { name, type, owner: userId }, deps.maxBytes);
          const token = issueFileToken(deps.secret, meta.fileId, deps.clock.now(), deps.tokenTtlMs);
          req.log.info({ userId, fileId: meta.fileId, size: meta.size }, 'file stored');
          return envelope(Codes.SUCCESS, { fileId: meta.fileId, size: meta.size, sha256: meta.sha256, type, name, token });
        } catch (err) {
          if (err instanceof FileTooLargeError) {
            await Promise.race([drained, new Promise((r) => setTimeout(r, 10_000).unref())]);
            return refuse(reply, 413, Codes.FILE_TOO_LARGE, `at most ${deps.maxBytes} bytes`);
          }
          if (raw.destroyed) return reply; // the client went away: nobody to answer
          req.log.warn({ err, userId }, 'file store failed');
          raw.resume();
          return refuse(reply, 503, Codes.FILE_STORE_UNAVAILABLE);
        }
      },
    );

    scope.get<{ Params: { fileId: string }; Querystring: { userId: number; token: string } }>(
      '/files/:fileId',
      {
        schema: {
          description: 'Downloads a file of a file message, as an attachment; Authorization: Bearer <token of userId>, token = the message\'s fileToken.',
          params: { type: 'object', required: ['fileId'], properties: { fileId: { type: 'string', maxLength: 64 } } },
          querystring: { type: 'object', required: ['userId', 'token'], additionalProperties: false, properties: { userId: userIdParam, token: { type: 'string', maxLength: 64 } } },
        },
      },
      async (req, reply) => {
        const { fileId } = req.params;
        if (!(await caller(req, reply, req.query.userId))) return reply;
        if (!deps.store) return refuse(reply, 404, Codes.FILE_UNKNOWN, 'this cluster keeps no files (no --file-store)');
        if (!FILE_ID.test(fileId) || !FILE_TOKEN.test(req.query.token)) return refuse(reply, 403, Codes.FILE_FORBIDDEN);
        // The token first: without one for this file, nobody learns whether it exists.
        const check = checkFileToken(deps.secret, fileId, req.query.token, deps.clock.now());
        if (check !== 'ok') return refuse(reply, 403, Codes.FILE_FORBIDDEN, check === 'expired' ? 'the link expired' : undefined);
        let found;
        try {
          found = await deps.store.get(fileId);
        } catch (err) {
          req.log.warn({ err, fileId }, 'file store failed');
          return refuse(reply, 503, Codes.FILE_STORE_UNAVAILABLE);
        }
        if (!found) return refuse(reply, 404, Codes.FILE_UNKNOWN);
        const { meta, body } = found;
        return reply
          .code(200)
          .header('content-type', 'application/octet-stream')
          .header('content-length', String(meta.size))
          .header('content-disposition', disposition(meta.name))
          .header('x-content-type-options', 'nosniff')
          .header('content-security-policy', "default-src 'none'; sandbox")
          .header('cache-control', 'private, no-store')
          .header('x-cim-file-type', meta.type)
          .header('x-cim-file-sha256', meta.sha256)
          .send(body);
      },
    );
  });
}
