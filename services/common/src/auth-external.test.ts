import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { OidcVerifier, PasswordHook } from './auth-external.ts';

const answering = (status: number, body: string | Uint8Array): typeof fetch => async () => new Response(status === 204 ? null : body, { status });

describe('OidcVerifier', () => {
  it('answers "unavailable" (not "refused") when the JWKS cannot be fetched, and "refused" for a malformed token', async () => {
    // A port that was free a moment ago: nothing listens, the fetch fails at once.
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    await new Promise((r) => server.close(r));
    const v = new OidcVerifier({ jwksUrl: `http://127.0.0.1:${port}/jwks`, issuer: 'i', audience: 'a', userClaim: 'sub', timeoutMs: 500 });
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'k' })).toString('base64url');
    const token = `${header}.${Buffer.from('{"sub":"x"}').toString('base64url')}.c2ln`;
    expect(await v.verify(token)).toMatchObject({ ok: false, reason: 'unavailable' });
    expect(await v.verify('x'.repeat(9000))).toMatchObject({ ok: false, reason: 'refused' });
    expect(await v.verify('')).toMatchObject({ ok: false, reason: 'refused' });
  });
  it('refuses to start without issuer and audience, or with a URL that is not http(s)', () => {
    expect(() => new OidcVerifier({ jwksUrl: 'http://127.0.0.1/j', issuer: '', audience: 'a', userClaim: 'sub', timeoutMs: 1 })).toThrow(/--auth-issuer/);
    expect(() => new OidcVerifier({ jwksUrl: 'file:///etc/passwd', issuer: 'i', audience: 'a', userClaim: 'sub', timeoutMs: 1 })).toThrow(/http/);
  });
});

describe('PasswordHook', () => {
  const check = (f: typeof fetch) => new PasswordHook({ url: 'http://127.0.0.1:1/check', timeoutMs: 1000, fetch: f }).check('alice', 'pw');
  it('maps the hook\'s answers: 2xx accepts (optionally renaming), 401/403 refuse, anything else is unavailable', async () => {
    expect(await check(answering(200, ''))).toEqual({ ok: true, userName: 'alice' });
    expect(await check(answering(204, ''))).toEqual({ ok: true, userName: 'alice' });
    expect(await check(answering(200, 'not json'))).toEqual({ ok: true, userName: 'alice' });
    expect(await check(answering(200, '{"userName":"Alice Smith"}'))).toEqual({ ok: true, userName: 'Alice Smith' });
    expect(await check(answering(200, '{"userName":"evil\\u0007"}'))).toMatchObject({ ok: false, reason: 'unavailable' });
    expect(await check(answering(200, '{"userName":5}'))).toMatchObject({ ok: false, reason: 'unavailable' });
    expect(await check(answering(200, new Uint8Array(20_000)))).toMatchObject({ ok: false, reason: 'unavailable' });
    for (const s of [401, 403]) expect(await check(answering(s, '{}'))).toMatchObject({ ok: false, reason: 'refused' });
    for (const s of [302, 404, 500, 503]) expect(await check(answering(s, ''))).toMatchObject({ ok: false, reason: 'unavailable' });
    expect(await check(async () => Promise.reject(new TypeError('fetch failed')))).toMatchObject({ ok: false, reason: 'unavailable' });
  });
  it('sends the user name and password as JSON, without following redirects', async () => {
    let seen: RequestInit | undefined;
    await check(async (_url, init) => ((seen = init), new Response('', { status: 200 })));
    expect(JSON.parse(String(seen?.body))).toEqual({ userName: 'alice', password: 'pw' });
    expect(seen?.redirect).toBe('manual');
  });
});
