/**
 * Access tokens: short-lived JWTs (HS256, jose) signed with the secret the routes share with the servers.
 * Claims: sub = userId, jti (revocable one by one), sid (the login session: its refresh tokens), iat, exp.
 * Pure apart from the signature check; time is passed in.
 */
import { errors, jwtVerify, SignJWT } from 'jose';
import { randomBytes } from 'node:crypto';

/** Access tokens live 15 minutes by default (route --token-ttl); the SDK refreshes them. */
export const DEFAULT_TOKEN_TTL_MS = 15 * 60 * 1000;
const ISSUER = 'cim-route';
const AUDIENCE = 'cim';
/** Largest token accepted anywhere (route bodies, LOGIN_REQUEST); a real one is about 300 bytes. */
export const MAX_TOKEN_CHARS = 1024;

export interface TokenClaims {
  readonly userId: number;
  readonly jti: string;
  /** login session id: shared by the access and refresh tokens of one login */
  readonly sid: string;
  readonly issuedAtMs: number;
  readonly expiresAtMs: number;
}

export type TokenCheck =
  | { ok: true; claims: TokenClaims }
  | { ok: false; reason: 'missing' | 'malformed' | 'bad-signature' | 'expired' | 'wrong-user' | 'revoked' };

const keyOf = (secret: string) => new TextEncoder().encode(secret);

export function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('base64url');
}

export async function issueToken(secret: string, userId: number, sid: string, nowMs: number, ttlMs = DEFAULT_TOKEN_TTL_MS): Promise<{ token: string; claims: TokenClaims }> {
  const jti = randomId();
  // JWT times are whole seconds: iat rounds down, exp up, so a token never outlives ttlMs by more than 1 s.
  const iat = Math.floor(nowMs / 1000);
  const exp = Math.ceil((nowMs + ttlMs) / 1000);
  // iatMs: revocations ("every token of this user issued before T") need more than JWT's whole seconds.
  const token = await new SignJWT({ sid, iatMs: nowMs })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(String(userId))
    .setJti(jti)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(keyOf(secret));
  return { token, claims: { userId, jti, sid, issuedAtMs: nowMs, expiresAtMs: exp * 1000 } };
}

/** Checks signature, issuer, audience, expiry and that the token belongs to `userId`. Never throws. */
export async function verifyToken(secret: string, token: string | undefined, userId: number, nowMs: number): Promise<TokenCheck> {
  if (!token) return { ok: false, reason: 'missing' };
  if (token.length > MAX_TOKEN_CHARS) return { ok: false, reason: 'malformed' };
  try {
    const { payload } = await jwtVerify(token, keyOf(secret), { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, currentDate: new Date(nowMs), clockTolerance: 0 });
    const { sub, jti, sid, iatMs, exp } = payload;
    if (typeof jti !== 'string' || typeof sid !== 'string' || typeof iatMs !== 'number' || typeof exp !== 'number' || typeof sub !== 'string') return { ok: false, reason: 'malformed' };
    if (sub !== String(userId)) return { ok: false, reason: 'wrong-user' };
    return { ok: true, claims: { userId, jti, sid, issuedAtMs: iatMs, expiresAtMs: exp * 1000 } };
  } catch (err) {
    if (err instanceof errors.JWTExpired) return { ok: false, reason: 'expired' };
    if (err instanceof errors.JWSSignatureVerificationFailed) return { ok: false, reason: 'bad-signature' };
    return { ok: false, reason: 'malformed' };
  }
}
