import { describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from './auth-password.ts';
import { issueToken, verifyToken } from './auth.ts';

describe('access tokens (JWT)', () => {
  const now = 1_700_000_000_000;
  it('accepts a token for its own user before it expires, with its claims', async () => {
    const { token, claims } = await issueToken('s3cret', 42, 'sid-1', now, 10_000);
    expect(token.split('.')).toHaveLength(3);
    const check = await verifyToken('s3cret', token, 42, now + 9_000);
    expect(check).toEqual({ ok: true, claims });
    expect(claims).toMatchObject({ userId: 42, sid: 'sid-1', issuedAtMs: now, expiresAtMs: now + 10_000 });
  });
  it('refuses another user, an expired token, another secret, garbage, oversize and nothing', async () => {
    const { token } = await issueToken('s3cret', 42, 'sid', now, 10_000);
    expect(await verifyToken('s3cret', token, 43, now)).toEqual({ ok: false, reason: 'wrong-user' });
    expect(await verifyToken('s3cret', token, 42, now + 10_001)).toEqual({ ok: false, reason: 'expired' });
    expect(await verifyToken('other', token, 42, now)).toEqual({ ok: false, reason: 'bad-signature' });
    expect(await verifyToken('s3cret', 'garbage', 42, now)).toEqual({ ok: false, reason: 'malformed' });
    expect(await verifyToken('s3cret', 'x'.repeat(2000), 42, now)).toEqual({ ok: false, reason: 'malformed' });
    expect(await verifyToken('s3cret', undefined, 42, now)).toEqual({ ok: false, reason: 'missing' });
    // alg "none" and a re-signed payload are not tokens
    const [, payload] = token.split('.');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
    expect((await verifyToken('s3cret', none, 42, now)).ok).toBe(false);
  });
});

describe('password hashes (scrypt)', () => {
  it('stores parameters and a per-account salt, and verifies only the right password', async () => {
    const a = await hashPassword('correct horse', { N: 1024, r: 8, p: 1 });
    const b = await hashPassword('correct horse', { N: 1024, r: 8, p: 1 });
    expect(a).toMatch(/^scrypt\$1024\$8\$1\$[\w-]+\$[\w-]{43}$/);
    expect(a).not.toBe(b); // salted
    expect(await verifyPassword(a, 'correct horse')).toBe(true);
    expect(await verifyPassword(a, 'correct horsf')).toBe(false);
    expect(await verifyPassword(a, '')).toBe(false);
  });
  it('refuses stored strings that do not parse or ask for absurd parameters', async () => {
    for (const bad of ['', 'plain', 'scrypt$1024$8$1$c2FsdA$', 'scrypt$3$8$1$c2FsdHNhbHQ$' + 'A'.repeat(43), 'scrypt$67108864$8$1$c2FsdHNhbHQ$' + 'A'.repeat(43)]) {
      expect(await verifyPassword(bad, 'x')).toBe(false);
    }
  });
});
