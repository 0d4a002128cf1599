/**
 * Login tokens: the route signs `{userId, exp}` with a secret shared with the servers (HMAC-SHA256);
 * a server accepts a LOGIN_REQUEST only with a valid token for that userId. Pure; time is passed in.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const DEFAULT_TOKEN_TTL_MS = 24 * 60 * 60 * 1000;

export function issueToken(secret: string, userId: number, nowMs: number, ttlMs = DEFAULT_TOKEN_TTL_MS): string {
  const payload = Buffer.from(JSON.stringify({ uid: userId, exp: nowMs + ttlMs })).toString('base64url');
  return `${payload}.${sign(secret, payload)}`;
}

export type TokenCheck = { ok: true } | { ok: false; reason: 'missing' | 'malformed' | 'bad-signature' | 'expired' | 'wrong-user' };

export function verifyToken(secret: string, token: string | undefined, userId: number, nowMs: number): TokenCheck {
  if (!token) return { ok: false, reason: 'missing' };
  const dot = token.indexOf('.');
  if (dot <= 0) return { ok: false, reason: 'malformed' };
  const payload = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  const expected = Buffer.from(sign(secret, payload), 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'bad-signature' };
  let claims: { uid?: unknown; exp?: unknown };
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { uid?: unknown; exp?: unknown };
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (claims.uid !== userId) return { ok: false, reason: 'wrong-user' };
  if (typeof claims.exp !== 'number' || claims.exp < nowMs) return { ok: false, reason: 'expired' };
  return { ok: true };
}

function sign(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url');
}
