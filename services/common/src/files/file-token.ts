/**
 * Download tokens of stored files: `<expiry seconds>.<HMAC-SHA256(secret, fileId, expiry)>`, issued by the route
 * at upload and carried in the message, so exactly the people who have the message (sender and receiver) can
 * download the file, without the route looking up who received what. The HMAC key is derived from the
 * --auth-secret with a label, so a file token is never valid as anything else.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

import { FILE_TOKEN } from './attachment.ts';

export { FILE_TOKEN };

const sign = (secret: string, fileId: string, exp: number): string =>
  createHmac('sha256', secret).update(`cim-file-download\n${fileId}\n${exp}`).digest('base64url');

export function issueFileToken(secret: string, fileId: string, nowMs: number, ttlMs: number): string {
  const exp = Math.floor((nowMs + ttlMs) / 1000);
  return `${exp}.${sign(secret, fileId, exp)}`;
}

/** 'ok', 'expired' or 'invalid' (malformed, or not signed for this file). */
export function checkFileToken(secret: string, fileId: string, token: string | undefined, nowMs: number): 'ok' | 'expired' | 'invalid' {
  if (token === undefined || !FILE_TOKEN.test(token)) return 'invalid';
  const dot = token.indexOf('.');
  const exp = Number(token.slice(0, dot));
  const given = Buffer.from(token.slice(dot + 1));
  const expected = Buffer.from(sign(secret, fileId, exp));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
  return exp * 1000 <= nowMs ? 'expired' : 'ok';
}
