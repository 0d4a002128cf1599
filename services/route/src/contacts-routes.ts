/**
 * POST /contacts/*: the caller's contact list with each contact's presence, and the "only contacts may message
 * me" setting (docs/delivery.md "Contacts and presence"). Each acts for the caller, so each needs the caller's
 * own token; CIM's open mode (--auth cim) cannot tell who asks and serves none of them (9300).
 */
import type { FastifyInstance } from 'fastify';
import { Codes } from '../../common/src/codes.ts';
import { MAX_CONTACTS, type ContactStore } from '../../common/src/contacts/types.ts';
import type { RouteStore } from '../../common/src/route-store/types.ts';
import { envelope, envelopeSchema } from '../../common/src/status.ts';
import type { RouteAuth } from './auth.ts';

export interface ContactRoutesDeps {
  readonly contacts: ContactStore;
  readonly accounts: Pick<RouteStore, 'getAccount' | 'getRoute'>;
  readonly auth: RouteAuth;
  readonly tokenSchema: object;
}

const id = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;
const changedSchema = envelopeSchema({ type: ['object', 'null'], additionalProperties: false, properties: { changed: { type: 'boolean' } } });
const contactSchema = { type: 'object', additionalProperties: false, properties: { userId: { type: 'integer' }, userName: { type: 'string' }, online: { type: 'boolean' } } };
const settingsSchema = envelopeSchema({ type: ['object', 'null'], additionalProperties: false, properties: { onlyContacts: { type: 'boolean' } } });

interface Caller {
  userId: number;
  token?: string;
}

export function registerContactRoutes(api: FastifyInstance, deps: ContactRoutesDeps): void {
  const { contacts, auth } = deps;
  const body = (required: string[], properties: object) => ({ type: 'object', required: ['userId', ...required], additionalProperties: false, properties: { userId: id, token: deps.tokenSchema, ...properties } });
  /** The caller's own valid token, in password mode only; undefined when allowed. */
  const refuse = async (b: Caller) => {
    if (auth.mode !== 'password') return envelope(Codes.UNAUTHORIZED, null, `${Codes.UNAUTHORIZED.message}: contacts need --auth password`);
    const checked = await auth.authorize(b.userId, b.token);
    return checked.ok ? undefined : envelope(checked.code);
  };
  const post = <T>(path: string, schema: { body: object; response: object }, description: string, handle: (b: Caller & T) => Promise<unknown>) =>
    api.post<{ Body: Caller & T }>(path, { schema: { description, ...schema } }, async (req) => {
      const b = req.body as Caller & T;
      return (await refuse(b)) ?? handle(b);
    });

  post<{ contactId: number }>('/contacts/add', { body: body(['contactId'], { contactId: id }), response: { 200: changedSchema } },
    `Adds a user to the caller's contacts (at most ${MAX_CONTACTS}); the caller then gets the user's presence events.`, async (b) => {
      if (b.contactId === b.userId) return envelope(Codes.VALIDATION_FAIL, null, `${Codes.VALIDATION_FAIL.message}: nobody is their own contact`);
      if (!(await deps.accounts.getAccount(b.contactId))) return envelope(Codes.RECEIVER_UNKNOWN);
      const added = await contacts.add(b.userId, b.contactId, MAX_CONTACTS);
      if (added === 'full') return envelope(Codes.VALIDATION_FAIL, null, `${Codes.VALIDATION_FAIL.message}: at most ${MAX_CONTACTS} contacts`);
      return envelope(Codes.SUCCESS, { changed: added === 'added' });
    });

  post<{ contactId: number }>('/contacts/remove', { body: body(['contactId'], { contactId: id }), response: { 200: changedSchema } },
    "Removes a user from the caller's contacts.", async (b) => envelope(Codes.SUCCESS, { changed: await contacts.remove(b.userId, b.contactId) }));

  post<object>('/contacts/list', { body: body([], {}), response: { 200: envelopeSchema({ type: ['object', 'null'], additionalProperties: false, properties: { contacts: { type: 'array', items: contactSchema } } }) } },
    "The caller's contacts, each with its name and whether it is online now (it has a route).", async (b) => {
      const list = await contacts.list(b.userId);
      const found = await Promise.all(list.map(async (userId) => {
        const [account, route] = await Promise.all([deps.accounts.getAccount(userId), deps.accounts.getRoute(userId)]);
        return { userId, userName: account?.userName ?? '', online: route !== undefined };
      }));
      return envelope(Codes.SUCCESS, { contacts: found });
    });

  post<{ onlyContacts?: boolean }>('/contacts/settings', { body: body([], { onlyContacts: { type: 'boolean' } }), response: { 200: settingsSchema } },
    'Reads, or with onlyContacts sets, whether only the caller\'s contacts may send it private messages (others get 7360).', async (b) => {
      if (b.onlyContacts !== undefined) await contacts.setSettings(b.userId, { onlyContacts: b.onlyContacts });
      return envelope(Codes.SUCCESS, await contacts.settings(b.userId));
    });
}
