import { describe, expect, it } from 'vitest';
import { issueToken, verifyToken } from './auth.ts';

describe('login tokens', () => {
  const now = 1_700_000_000_000;
  it('accepts a token for its own user before it expires', () => {
    expect(verifyToken('s3cret', issueToken('s3cret', 42, now, 1000), 42, now + 999)).toEqual({ ok: true });
  });
  it('refuses another user, an expired token, another secret, garbage and nothing', () => {
    const token = issueToken('s3cret', 42, now, 1000);
    expect(verifyToken('s3cret', token, 43, now)).toEqual({ ok: false, reason: 'wrong-user' });
    expect(verifyToken('s3cret', token, 42, now + 1001)).toEqual({ ok: false, reason: 'expired' });
    expect(verifyToken('other', token, 42, now)).toEqual({ ok: false, reason: 'bad-signature' });
    expect(verifyToken('s3cret', 'garbage', 42, now)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyToken('s3cret', undefined, 42, now)).toEqual({ ok: false, reason: 'missing' });
  });
});
