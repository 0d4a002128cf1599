/**
 * POST /groups/*: named groups (docs/delivery.md "Named groups"): create, rename, join, invite, leave, remove,
 * role, mine, members, send. Each acts for the caller, so each needs the caller's own token; CIM's open mode
 * (--auth cim) cannot tell who asks and serves none of them (9300).
 */
import type { FastifyInstance } from 'fastify';
import { Codes, type WireCode } from '../../common/src/codes.ts';
import { checkMember } from '../../common/src/groups/fan-out.ts';
import { isGroupName } from '../../common/src/groups/entry.ts';
import type { Group, GroupChange, GroupRefusal, GroupStore } from '../../common/src/groups/types.ts';
import type { Clock } from '../../common/src/clock.ts';
import { DeliveryError, MSG_ID_PATTERN, type MessageRouter } from '../../common/src/message-router.ts';
import { messageTooLarge } from '../../common/src/message-size.ts';
import type { RouteStore } from '../../common/src/route-store/types.ts';
import { envelope, envelopeSchema } from '../../common/src/status.ts';
import type { RouteAuth } from './auth.ts';

export interface GroupRoutesDeps {
  readonly groups: GroupStore;
  readonly router: MessageRouter;
  readonly accounts: Pick<RouteStore, 'getAccount'>;
  readonly auth: RouteAuth;
  readonly tokenSchema: object;
  readonly maxMembers: number;
  readonly maxMessageBytes: number;
  readonly clock: Clock;
}

const id = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;
// The user-name rules (entry.ts checks them again); the schema only bounds the size.
const name = { type: 'string', minLength: 1, maxLength: 256 } as const;
const groupSchema = { type: 'object', additionalProperties: false, properties: { groupId: { type: 'integer' }, name: { type: 'string' }, owner: { type: 'integer' }, open: { type: 'boolean' }, createdAt: { type: 'integer' }, role: { type: 'string' } } };
const changedSchema = envelopeSchema({ type: ['object', 'null'], additionalProperties: false, properties: { changed: { type: 'boolean' } } });

const REFUSALS: Record<GroupRefusal, WireCode> = {
  'unknown-group': Codes.GROUP_UNKNOWN,
  'not-member': Codes.GROUP_NOT_MEMBER,
  forbidden: Codes.GROUP_FORBIDDEN,
  full: Codes.GROUP_FULL,
};

const answer = (c: GroupChange) => (c.ok ? envelope(Codes.SUCCESS, { changed: c.changed }) : envelope(REFUSALS[c.refusal]));
const badName = () => envelope(Codes.VALIDATION_FAIL, null, `${Codes.VALIDATION_FAIL.message}: a group name follows the user-name rules (1-256 characters, no control characters, no leading or trailing space)`);

interface Caller {
  userId: number;
  token?: string;
}
type Body<T> = Caller & T;

export function registerGroupRoutes(api: FastifyInstance, deps: GroupRoutesDeps): void {
  const { groups, auth } = deps;
  const body = (required: string[], properties: object) => ({ type: 'object', required: ['userId', ...required], additionalProperties: false, properties: { userId: id, token: deps.tokenSchema, ...properties } });
  /** The caller's own valid token, in password mode only; undefined when allowed. */
  const refuse = async (b: Caller) => {
    if (auth.mode !== 'password') return envelope(Codes.UNAUTHORIZED, null, `${Codes.UNAUTHORIZED.message}: named groups need --auth password`);
    const checked = await auth.authorize(b.userId, b.token);
    return checked.ok ? undefined : envelope(checked.code);
  };
  const post = <T>(path: string, schema: { body: object; response?: object }, description: string, handle: (b: Body<T>) => Promise<unknown>) =>
    api.post<{ Body: Body<T> }>(path, { schema: { description, ...schema, response: schema.response ?? { 200: changedSchema } } }, async (req) => {
      const b = req.body as Body<T>;
      return (await refuse(b)) ?? handle(b);
    });

  post<{ name: string; open?: boolean }>('/groups/create', { body: body(['name'], { name, open: { type: 'boolean' } }), response: { 200: envelopeSchema({ ...groupSchema, type: ['object', 'null'] }) } },
    'Creates a group owned by the caller; open (default) groups take anyone who joins, closed ones only invited users.',
    async (b) => {
      if (!isGroupName(b.name)) return badName();
      const group: Group = await groups.create(b.name, b.userId, { open: b.open ?? true, now: deps.clock.now() });
      return envelope(Codes.SUCCESS, { ...group, role: 'owner' });
    });

  post<{ groupId: number; name: string }>('/groups/rename', { body: body(['groupId', 'name'], { groupId: id, name }) }, 'Renames a group (admins and the owner).', async (b) =>
    isGroupName(b.name) ? answer(await groups.rename(b.groupId, b.userId, b.name)) : badName());

  post<{ groupId: number }>('/groups/join', { body: body(['groupId'], { groupId: id }) }, 'Joins an open group.', async (b) => answer(await groups.join(b.groupId, b.userId, deps.maxMembers)));

  post<{ groupId: number; memberId: number }>('/groups/invite', { body: body(['groupId', 'memberId'], { groupId: id, memberId: id }) }, 'Adds a user to a group, open or closed (admins and the owner).', async (b) => {
    if (!(await deps.accounts.getAccount(b.memberId))) return envelope(Codes.RECEIVER_UNKNOWN);
    return answer(await groups.invite(b.groupId, b.userId, b.memberId, deps.maxMembers));
  });

  post<{ groupId: number }>('/groups/leave', { body: body(['groupId'], { groupId: id }) }, 'Leaves a group (the owner cannot).', async (b) => answer(await groups.leave(b.groupId, b.userId)));

  post<{ groupId: number; memberId: number }>('/groups/remove', { body: body(['groupId', 'memberId'], { groupId: id, memberId: id }) }, 'Removes a member (admins; only the owner removes an admin; nobody the owner).', async (b) =>
    answer(await groups.remove(b.groupId, b.userId, b.memberId)));

  post<{ groupId: number; memberId: number; role: 'admin' | 'member' }>('/groups/role', { body: body(['groupId', 'memberId', 'role'], { groupId: id, memberId: id, role: { type: 'string', enum: ['admin', 'member'] } }) },
    'Makes a member an admin or an admin a member (the owner).', async (b) => answer(await groups.setRole(b.groupId, b.userId, b.memberId, b.role)));

  post<object>('/groups/mine', { body: body([], {}), response: { 200: envelopeSchema({ type: ['object', 'null'], additionalProperties: false, properties: { groups: { type: 'array', items: groupSchema } } }) } },
    "The caller's groups, with the caller's role in each.", async (b) => envelope(Codes.SUCCESS, { groups: await groups.mine(b.userId) }));

  post<{ groupId: number }>('/groups/members', {
    body: body(['groupId'], { groupId: id }),
    response: { 200: envelopeSchema({ type: ['object', 'null'], additionalProperties: false, properties: { group: groupSchema, members: { type: 'array', items: { type: 'object', additionalProperties: false, properties: { userId: { type: 'integer' }, userName: { type: 'string' }, role: { type: 'string' } } } } } }) },
  }, "A group and its members (members only: 7320 otherwise).", async (b) => {
    const refused = await memberOnly(groups, b.groupId, b.userId);
    if (refused) return refused;
    const [group, members] = await Promise.all([groups.get(b.groupId), groups.members(b.groupId)]);
    if (!group || !members) return envelope(Codes.GROUP_UNKNOWN);
    const names = await Promise.all(members.map((m) => deps.accounts.getAccount(m.userId)));
    return envelope(Codes.SUCCESS, { group, members: members.map((m, i) => ({ ...m, userName: names[i]?.userName ?? '' })) });
  });

  post<{ groupId: number; msg: string; msgId?: string }>('/groups/send', {
    body: body(['groupId', 'msg'], { groupId: id, msg: { type: 'string', minLength: 1 }, msgId: { type: 'string', pattern: MSG_ID_PATTERN.source } }),
    response: { 200: envelopeSchema({ type: ['object', 'null'], additionalProperties: false, properties: { msgId: { type: 'string' }, gseq: { type: 'integer' }, stored: { type: 'integer' } } }) },
  }, "Sends to a group (members only): SENT once it is in every other member's inbox; then pushed live. Retry with the same msgId.", async (b) => {
    const tooLarge = messageTooLarge(b.msg, deps.maxMessageBytes);
    if (tooLarge) return envelope(Codes.VALIDATION_FAIL, null, `${Codes.VALIDATION_FAIL.message}: ${tooLarge}`);
    const from = await deps.accounts.getAccount(b.userId);
    if (!from) return envelope(Codes.RECEIVER_UNKNOWN);
    try {
      const sent = await deps.router.sendToGroup(from, b.groupId, { text: b.msg, msgId: b.msgId });
      void sent.push();
      return envelope(Codes.SUCCESS, { msgId: sent.msgId, gseq: sent.gseq, stored: sent.stored });
    } catch (err) {
      if (err instanceof DeliveryError) return envelope(err.wire);
      throw err;
    }
  });
}

/** undefined when `userId` is a member of the group; else the envelope of 7330 / 7320 / 7200. */
export async function memberOnly(groups: GroupStore, groupId: number, userId: number): Promise<ReturnType<typeof envelope> | undefined> {
  try {
    await checkMember(groups, groupId, userId);
    return undefined;
  } catch (err) {
    if (err instanceof DeliveryError) return envelope(err.wire);
    throw err;
  }
}
