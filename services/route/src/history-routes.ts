/**
 * POST /history: a page of one private conversation kept on the server (docs/delivery.md "History"), for a new
 * device or the web client. Only a participant reads it: the caller's own token, for the caller's own userId.
 */
import type { FastifyInstance } from 'fastify';
import { Codes } from '../../common/src/codes.ts';
import { groupConversation, MAX_HISTORY_PAGE, privateConversation, type HistoryStore } from '../../common/src/history/types.ts';
import type { GroupStore } from '../../common/src/groups/types.ts';
import { memberOnly } from './groups-routes.ts';
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
  peerId?: number;
  /** a named group's history instead of a private conversation (members only) */
  groupId?: number;
  beforeSeq?: number;
  limit?: number;
}

export function registerHistoryRoutes(api: FastifyInstance, deps: { readonly history: HistoryStore | undefined; readonly groups?: GroupStore | undefined; readonly auth: RouteAuth; readonly tokenSchema: object }): void {
  api.post<{ Body: HistoryBody }>(
    '/history',
    {
      schema: {
        description: 'A page of the private conversation between userId and peerId, or of group groupId (members only), oldest first: the newest `limit` messages before `beforeSeq` (all when absent). Page backwards with beforeSeq = the first seq of the previous page.',
        body: {
          type: 'object',
          required: ['userId'],
          // One conversation: with a peer, or of a named group (its entries' `to` is the groupId).
          oneOf: [{ required: ['peerId'] }, { required: ['groupId'] }],
          additionalProperties: false,
          properties: { userId, token: deps.tokenSchema, peerId: userId, groupId: userId, beforeSeq: userId, limit: { type: 'integer', minimum: 1, maximum: MAX_HISTORY_PAGE } },
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
      const { groupId, peerId } = req.body;
      if (groupId !== undefined) {
        if (!deps.groups) return envelope(Codes.GROUP_UNKNOWN);
        const refused = await memberOnly(deps.groups, groupId, req.body.userId);
        if (refused) return refused;
      }
      if (!deps.history) return envelope(Codes.SUCCESS, { enabled: false, messages: [] });
      const conversation = groupId !== undefined ? groupConversation(groupId) : privateConversation(req.body.userId, peerId!);
      const messages = await deps.history.page(conversation, req.body.beforeSeq, req.body.limit ?? DEFAULT_HISTORY_PAGE);
      return envelope(Codes.SUCCESS, { enabled: true, messages });
    },
  );
}
