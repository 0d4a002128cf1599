/**
 * client.groups: the named-group calls of the route (POST /groups/*, docs/delivery.md "Named groups"), with
 * this session's token. Refusals reject with ROUTE_REJECTED and the catalogue code in `serverCode` (7320 not a
 * member, 7330 no such group, 7340 not allowed, 7350 full). Sending is client.sendToGroup (in-band, acknowledged).
 */
import { ClientErrorCode, CimClientError } from './errors.ts';

export type GroupRole = 'owner' | 'admin' | 'member';

export interface GroupInfo {
  readonly groupId: number;
  readonly name: string;
  readonly owner: number;
  readonly open: boolean;
  readonly createdAt: number;
  /** the caller's role (create, mine) */
  readonly role?: GroupRole;
}

export interface GroupMemberInfo {
  readonly userId: number;
  readonly userName: string;
  readonly role: GroupRole;
}

/** The route call: path and payload; userId and token are added by the session. */
export type GroupCall = (path: string, payload: Record<string, unknown>) => Promise<unknown>;

export class Groups {
  readonly #call: GroupCall;

  constructor(call: GroupCall) {
    this.#call = call;
  }

  /** Creates a group owned by this user; open (default) groups take anyone who joins. */
  async create(name: string, options: { open?: boolean } = {}): Promise<GroupInfo> {
    if (typeof name !== 'string' || name === '') throw invalid('a group name is a non-empty string');
    return parseGroup(await this.#call('groups/create', { name, open: options.open ?? true }), 'create');
  }

  /** Resolves with true when something changed (false: already so). */
  async rename(groupId: number, name: string): Promise<boolean> {
    return changed(await this.#call('groups/rename', { groupId: checkId(groupId), name }));
  }

  async join(groupId: number): Promise<boolean> {
    return changed(await this.#call('groups/join', { groupId: checkId(groupId) }));
  }

  async leave(groupId: number): Promise<boolean> {
    return changed(await this.#call('groups/leave', { groupId: checkId(groupId) }));
  }

  async invite(groupId: number, userId: number): Promise<boolean> {
    return changed(await this.#call('groups/invite', { groupId: checkId(groupId), memberId: checkId(userId) }));
  }

  async remove(groupId: number, userId: number): Promise<boolean> {
    return changed(await this.#call('groups/remove', { groupId: checkId(groupId), memberId: checkId(userId) }));
  }

  /** The owner makes a member an admin, or an admin a member. */
  async setRole(groupId: number, userId: number, role: 'admin' | 'member'): Promise<boolean> {
    return changed(await this.#call('groups/role', { groupId: checkId(groupId), memberId: checkId(userId), role }));
  }

  /** This user's groups, with its role in each. */
  async mine(): Promise<GroupInfo[]> {
    const data = asObject(await this.#call('groups/mine', {}), 'mine');
    if (!Array.isArray(data['groups'])) throw malformed('mine', 'groups is not an array');
    return data['groups'].map((g: unknown) => parseGroup(g, 'mine'));
  }

  /** The group and its members (members only). */
  async members(groupId: number): Promise<{ group: GroupInfo; members: GroupMemberInfo[] }> {
    const data = asObject(await this.#call('groups/members', { groupId: checkId(groupId) }), 'members');
    if (!Array.isArray(data['members'])) throw malformed('members', 'members is not an array');
    const members = data['members'].map((m: unknown): GroupMemberInfo => {
      const o = asObject(m, 'members');
      return { userId: asId(o['userId'], 'members'), userName: typeof o['userName'] === 'string' ? o['userName'] : '', role: asRole(o['role'], 'members') };
    });
    return { group: parseGroup(data['group'], 'members'), members };
  }
}

function parseGroup(value: unknown, where: string): GroupInfo {
  const o = asObject(value, where);
  if (typeof o['name'] !== 'string') throw malformed(where, 'name is not a string');
  const createdAt = o['createdAt'];
  return {
    groupId: asId(o['groupId'], where),
    name: o['name'],
    owner: asId(o['owner'], where),
    open: o['open'] === true,
    createdAt: typeof createdAt === 'number' && Number.isSafeInteger(createdAt) ? createdAt : 0,
    ...(o['role'] !== undefined ? { role: asRole(o['role'], where) } : {}),
  };
}

const changed = (value: unknown): boolean => typeof value === 'object' && value !== null && (value as { changed?: unknown }).changed === true;

function checkId(id: number): number {
  if (!Number.isSafeInteger(id) || id <= 0) throw invalid(`expected a positive id, got ${String(id)}`);
  return id;
}

function asId(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) throw malformed(where, 'expected a positive id');
  return value;
}

function asRole(value: unknown, where: string): GroupRole {
  if (value !== 'owner' && value !== 'admin' && value !== 'member') throw malformed(where, 'expected a role');
  return value;
}

function asObject(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed(where, 'expected an object');
  return value as Record<string, unknown>;
}

function malformed(where: string, what: string): CimClientError {
  return new CimClientError(ClientErrorCode.ROUTE_UNAVAILABLE, `route answer of groups/${where} is malformed: ${what}`);
}

function invalid(message: string): CimClientError {
  return new CimClientError(ClientErrorCode.INVALID_ARGUMENT, message);
}
