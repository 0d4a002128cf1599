/**
 * POST /history: a page of one private conversation kept on the server (docs/delivery.md "History"), for a new
 * device or the web client. Only a participant reads it: the caller's own token, for the caller's own userId.
 */
import type { FastifyInstance } from 'fastify';
import { Codes } from '../../common/src/codes.ts';
import { MAX_HISTORY_PAGE, privateConversation, type HistoryStore } from '../../common/src/history/types.ts';
import { envelope, envelopeSchema } from '../../common/src/status.ts';
import type { RouteAuth } from './auth.ts';

const userId = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;
const entrySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    seq: { type: 'integer' },
    msgId: { type: 'string' },
    from: { type: 'object', additionalProperties: false, properties: { userId: { type: 'integer' }, userName: { type: 'string' } } },
    to: { type: 'integer' },
    text: { type: 'string' },
    sentAt: { type: 'integer' },
  },
};

export const DEFAULT_HISTORY_PAGE = 50;

interface HistoryBody {
  userId: number;
  token?: string;
  peerId: number;
  beforeSeq?: number;
  limit?: number;
}

export function registerHistoryRoutes(api: FastifyInstance, deps: { readonly history: HistoryStore | undefined; readonly auth: RouteAuth; readonly tokenSchema: object }): void {
  api.post<{ Body: HistoryBody }>(
    '/history',
    {
      schema: {
        description: 'A page of the private conversation between userId and peerId, oldest first: the newest `limit` messages before `beforeSeq` (all when absent). Page backwards with beforeSeq = the first seq of the previous page.',
        body: {
          type: 'object',
          required: ['userId', 'peerId'],
          additionalProperties: false,
          properties: { userId, token: deps.tokenSchema, peerId: userId, beforeSeq: userId, limit: { type: 'integer', minimum: 1, maximum: MAX_HISTORY_PAGE } },
        },
        response: { 200: envelopeSchema({ type: ['object', 'null'], additionalProperties: false, properties: { enabled: { type: 'boolean' }, messages: { type: 'array', items: entrySchema } } }) },
      },
    },
    async (req) => {
      const { auth } = deps;
      // Reading is worse than writing: CIM's open mode cannot tell who asks, so it serves no history at all.
      if (auth.mode !== 'password') return envelope(Codes.UNAUTHORIZED, null, `${Codes.UNAUTHORIZED.message}: server-side history needs --auth password`);
      const checked = await auth.authorize(req.body.userId, req.body.token);
      if (!checked.ok) return envelope(checked.code);
      if (!deps.history) return envelope(Codes.SUCCESS, { enabled: false, messages: [] });
      const messages = await deps.history.page(privateConversation(req.body.userId, req.body.peerId), req.body.beforeSeq, req.body.limit ?? DEFAULT_HISTORY_PAGE);
      return envelope(Codes.SUCCESS, { enabled: true, messages });
    },
  );
}
