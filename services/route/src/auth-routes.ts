/**
 * Password mode's own endpoints: POST /refresh (a new access token for a refresh token, which is used
 * up and replaced) and POST /changePassword (revokes every token of the user). In cim mode they answer
 * 3000: there are no tokens and no passwords. Also the id-token part of /registerAccount and /login.
 */
import type { FastifyInstance } from 'fastify';
import { MAX_ID_TOKEN_CHARS } from '../../common/src/auth-external.ts';
import { MAX_PASSWORD_CHARS } from '../../common/src/auth-password.ts';
import { Codes, type WireCode } from '../../common/src/codes.ts';
import type { Account } from '../../common/src/route-store/account-store.ts';
import { envelope, envelopeSchema, Status } from '../../common/src/status.ts';
import { passwordSchema, requestBody, userIdSchema } from './app.ts';
import type { RouteAuth } from './auth.ts';

const grantSchema = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: { token: { type: 'string' }, refreshToken: { type: 'string' }, expiresIn: { type: 'integer' } },
};
const refreshToken = { type: 'string', minLength: 1, maxLength: 256 } as const;
/** An OIDC id token (a JWT), instead of a password, when the route runs with --auth-jwks-url. */
export const idTokenSchema = { type: 'string', minLength: 1, maxLength: MAX_ID_TOKEN_CHARS, description: 'OIDC id token (JWT) instead of a password (--auth-jwks-url)' } as const;

/**
 * The account an id token names (provisioned on first use). The userId and userName a request also
 * carries must be that account's: an id token of bob never logs in as alice (9301).
 */
export async function externalLogin(auth: RouteAuth, idToken: string, claimed: { userId?: number | undefined; userName?: string | undefined }, address: string): Promise<{ ok: true; account: Account } | { ok: false; code: WireCode }> {
  const ext = await auth.externalAccount(idToken, address);
  if (!ext.ok) return ext;
  const { userId, userName } = ext.account;
  if ((claimed.userId !== undefined && claimed.userId !== userId) || (claimed.userName !== undefined && claimed.userName !== userName)) return { ok: false, code: Codes.BAD_CREDENTIALS };
  return ext;
}

export function registerAuthRoutes(app: FastifyInstance, auth: RouteAuth, addressOf: (req: { ip: string }) => string): void {
  const notInCimMode = () => envelope(Status.VALIDATION_FAIL, null, `${Status.VALIDATION_FAIL.message}: the route runs with --auth cim (no passwords, no tokens)`);

  app.post<{ Body: { userId: number; refreshToken: string } }>(
    '/refresh',
    { schema: { body: requestBody(['userId', 'refreshToken'], { userId: userIdSchema, refreshToken }), response: { 200: envelopeSchema(grantSchema) } } },
    async (req) => {
      if (auth.mode !== 'password') return notInCimMode();
      const refreshed = await auth.refresh(req.body.userId, req.body.refreshToken);
      return refreshed.ok ? envelope(Status.SUCCESS, refreshed.grant) : envelope(refreshed.code);
    },
  );

  app.post<{ Body: { userId: number; password: string; newPassword: string } }>(
    '/changePassword',
    {
      schema: {
        body: requestBody(['userId', 'password', 'newPassword'], { userId: userIdSchema, password: { type: 'string', maxLength: MAX_PASSWORD_CHARS }, newPassword: passwordSchema }),
        response: { 200: envelopeSchema({ type: 'null' }) },
      },
    },
    async (req) => {
      if (auth.mode !== 'password') return notInCimMode();
      const refused = await auth.changePassword(req.body.userId, req.body.password, req.body.newPassword, addressOf(req));
      return refused ? envelope(refused) : envelope(Status.SUCCESS);
    },
  );
}
