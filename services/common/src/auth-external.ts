/**
 * External identity: asking the company's own identity system who someone is, instead of (or besides)
 * the route's password hashes. Two ways, each answering `IdentityCheck`:
 *  - OidcVerifier: an OIDC id token (JWT) verified against the provider's JWKS (fetched by jose, cached,
 *    refetched at most once per cooldown for an unknown key, bounded by a timeout), its issuer, audience
 *    and expiry; a configured claim names the user;
 *  - PasswordHook: a user name and password POSTed as JSON to an operator's HTTP endpoint; 2xx accepts
 *    (optionally naming the user: {"userName": …}), 401/403 refuse, anything else is "unavailable".
 * "refused" is the user's fault (throttled and answered 9300/9301); "unavailable" is the provider's
 * (answered with the retryable 9305, never counted against the user). Nothing here throws on what a
 * client or a provider sends. Neither caches an answer: each login asks again (docs/decisions.md).
 */
import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';

export type IdentityCheck = { ok: true; userName: string } | { ok: false; reason: 'refused' | 'unavailable'; detail: string };

/** Something that tells who an id token names (OidcVerifier; a fake in unit tests). */
export interface IdTokenVerifier {
  verify(idToken: string): Promise<IdentityCheck>;
}

/** Something that checks a user name and password (PasswordHook; a fake in unit tests). */
export interface PasswordChecker {
  check(userName: string, password: string): Promise<IdentityCheck>;
}

/** Asymmetric algorithms only: "none" and HS* (which would accept the public key as an HMAC secret) never verify. */
export const ID_TOKEN_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'];
/** Largest id token accepted; real ones are 1–2 KB. */
export const MAX_ID_TOKEN_CHARS = 8192;
/** Largest hook answer read; an answer is `{"userName": …}`. */
const MAX_HOOK_ANSWER_BYTES = 16 * 1024;
const CLOCK_TOLERANCE_S = 30;
/** An unknown key id refetches the JWKS at most this often (key rotation), so bad tokens cannot flood the provider. */
const JWKS_COOLDOWN_MS = 30_000;
const JWKS_MAX_AGE_MS = 10 * 60_000;

const USER_NAME = /^(?!\s)(?![\s\S]*\s$)[^\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]{1,256}$/u;
/** The route's rule for user names (app.ts), for names that come from a provider instead of a request. */
export const isValidUserName = (name: unknown): name is string => typeof name === 'string' && USER_NAME.test(name);

const refused = (detail: string): IdentityCheck => ({ ok: false, reason: 'refused', detail });
const unavailable = (detail: string): IdentityCheck => ({ ok: false, reason: 'unavailable', detail });

function httpUrl(url: string, flag: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`${flag} "${url}" is not a URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error(`${flag} must be an http(s) URL`);
  return parsed;
}

/** The JWKS could not be had (down, slow, 5xx, not JSON): the provider's fault, not the token's. */
class KeySourceUnavailable extends Error {}

export interface OidcOptions {
  readonly jwksUrl: string;
  readonly issuer: string;
  readonly audience: string;
  /** the claim that names the user, e.g. sub or preferred_username */
  readonly userClaim: string;
  /** bound of one JWKS fetch */
  readonly timeoutMs: number;
  /** time, for tests; the system clock otherwise */
  readonly now?: () => number;
}

export class OidcVerifier implements IdTokenVerifier {
  readonly #o: OidcOptions;
  readonly #keys: JWTVerifyGetKey;

  constructor(options: OidcOptions) {
    if (!options.issuer || !options.audience) throw new Error('--auth-jwks-url needs --auth-issuer and --auth-audience');
    if (!options.userClaim) throw new Error('--auth-user-claim must name a claim');
    const remote = createRemoteJWKSet(httpUrl(options.jwksUrl, '--auth-jwks-url'), { timeoutDuration: options.timeoutMs, cooldownDuration: JWKS_COOLDOWN_MS, cacheMaxAge: JWKS_MAX_AGE_MS });
    this.#keys = async (header, token) => {
      try {
        return await remote(header, token);
      } catch (err) {
        // No key for this token is the token's problem; everything else is about reaching the provider.
        if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys || err instanceof errors.JOSENotSupported) throw err;
        throw new KeySourceUnavailable((err as Error).message, { cause: err });
      }
    };
    this.#o = options;
  }

  async verify(idToken: string): Promise<IdentityCheck> {
    if (typeof idToken !== 'string' || idToken.length === 0 || idToken.length > MAX_ID_TOKEN_CHARS) return refused('malformed id token');
    try {
      const { payload } = await jwtVerify(idToken, this.#keys, {
        issuer: this.#o.issuer,
        audience: this.#o.audience,
        algorithms: ID_TOKEN_ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['exp'],
        ...(this.#o.now ? { currentDate: new Date(this.#o.now()) } : {}),
      });
      const name = payload[this.#o.userClaim];
      return isValidUserName(name) ? { ok: true, userName: name } : refused(`claim ${this.#o.userClaim} is not a user name`);
    } catch (err) {
      if (err instanceof KeySourceUnavailable) return unavailable(`JWKS: ${err.message}`);
      return refused(err instanceof errors.JOSEError ? err.code : 'invalid id token');
    }
  }
}

export interface HookOptions {
  readonly url: string;
  readonly timeoutMs: number;
  readonly fetch?: typeof fetch;
}

export class PasswordHook implements PasswordChecker {
  readonly #url: URL;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: HookOptions) {
    this.#url = httpUrl(options.url, '--auth-hook-url');
    this.#timeoutMs = options.timeoutMs;
    this.#fetch = options.fetch ?? fetch;
  }

  async check(userName: string, password: string): Promise<IdentityCheck> {
    // One bound for the whole exchange, answer body included: a hook that trickles bytes is "unavailable".
    const signal = AbortSignal.timeout(this.#timeoutMs);
    let res: Response;
    try {
      res = await this.#fetch(this.#url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ userName, password }),
        signal,
        redirect: 'manual', // a redirect is not an answer (and must not carry the password elsewhere)
      });
    } catch (err) {
      return unavailable(`hook: ${(err as Error).message}`);
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel().catch(() => undefined);
      return refused(`hook answered ${res.status}`);
    }
    if (res.status < 200 || res.status > 299) {
      await res.body?.cancel().catch(() => undefined);
      return unavailable(`hook answered ${res.status}`);
    }
    let text: string;
    try {
      text = await readBounded(res, MAX_HOOK_ANSWER_BYTES);
    } catch (err) {
      return unavailable(`hook answer: ${(err as Error).message}`);
    }
    let answer: unknown;
    try {
      answer = text.trim() === '' ? undefined : JSON.parse(text);
    } catch {
      answer = undefined; // 2xx with a body that is not JSON: accepted under the name asked for
    }
    const named = typeof answer === 'object' && answer !== null && 'userName' in answer ? (answer as { userName: unknown }).userName : undefined;
    if (named === undefined) return { ok: true, userName };
    // A hook that names someone impossible is broken: nobody gets in on its word.
    return isValidUserName(named) ? { ok: true, userName: named } : unavailable('hook named an invalid user name');
  }
}

async function readBounded(res: Response, maxBytes: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new Error(`larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
