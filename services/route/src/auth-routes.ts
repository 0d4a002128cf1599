/**
 * Password mode's own endpoints: POST /refresh (a new access token for a refresh token, which is used
 * up and replaced) and POST /changePassword (revokes every token of the user). In cim mode they answer
 * 3000: there are no tokens and no passwords.
 */
import type { FastifyInstance } from 'fastify';
import { MAX_PASSWORD_CHARS } from '../../common/src/auth-password.ts';
import { envelope, envelopeSchema, Status } from '../../common/src/status.ts';
import { passwordSchema, requestBody, userIdSchema } from './app.ts';
import type { RouteAuth } from './auth.ts';

const grantSchema = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: { token: { type: 'string' }, refreshToken: { type: 'string' }, expiresIn: { type: 'integer' } },
};
const refreshToken = { type: 'string', minLength: 1, maxLength: 256 } as const;

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
