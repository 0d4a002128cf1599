/**
 * GroupStore: named groups (issue #11, docs/delivery.md "Named groups"): who is in which group with which
 * role, and each group's message sequence (gseq). Delivery itself goes through the members' inboxes
 * (message-router.ts); this port only knows membership and order.
 *
 * Guarantees, for every backend:
 * - groupIds are positive, unique, increasing; a group has exactly one owner, who can neither leave nor be removed.
 * - join works on open groups only; invite needs an admin (or the owner); remove needs an admin, and only the
 *   owner removes an admin; setRole (admin <-> member) is the owner's. Both join and invite respect maxMembers.
 * - join/invite/leave/remove are idempotent: a repeated call answers ok with changed = false.
 * - sequence() is per group, starts at 1 and increases by exactly 1 per new id; the same id (sender:msgId)
 *   gets the gseq it already has while remembered (maxIds ids), so a retried send keeps its place.
 * - exclusive() runs one function at a time per group, across processes sharing the backend, so a group's
 *   messages are appended to every member's inbox in gseq order.
 */

export type GroupRole = 'owner' | 'admin' | 'member';

export interface Group {
  readonly groupId: number;
  readonly name: string;
  readonly owner: number;
  /** open groups take anyone who joins; closed ones only invited users */
  readonly open: boolean;
  /** ms since epoch */
  readonly createdAt: number;
}

/** One of a user's groups, with the user's role in it. */
export interface GroupMembership extends Group {
  readonly role: GroupRole;
}

export interface GroupMember {
  readonly userId: number;
  readonly role: GroupRole;
}

/** Why a change was refused: 7330 unknown group, 7320 not a member, 7340 forbidden (role, closed group, the owner), 7350 full. */
export type GroupRefusal = 'unknown-group' | 'not-member' | 'forbidden' | 'full';

export type GroupChange = { readonly ok: true; readonly changed: boolean } | { readonly ok: false; readonly refusal: GroupRefusal };

export interface GroupSequence {
  readonly gseq: number;
  readonly duplicate: boolean;
}

export interface GroupStore {
  create(name: string, owner: number, options: { readonly open: boolean; readonly now: number }): Promise<Group>;
  get(groupId: number): Promise<Group | undefined>;
  /** admins and the owner */
  rename(groupId: number, by: number, name: string): Promise<GroupChange>;
  /** open groups only; `userId` joins itself */
  join(groupId: number, userId: number, maxMembers: number): Promise<GroupChange>;
  /** `by` (an admin or the owner) adds `userId`, open group or not */
  invite(groupId: number, by: number, userId: number, maxMembers: number): Promise<GroupChange>;
  leave(groupId: number, userId: number): Promise<GroupChange>;
  remove(groupId: number, by: number, userId: number): Promise<GroupChange>;
  /** the owner makes a member an admin or an admin a member */
  setRole(groupId: number, by: number, userId: number, role: 'admin' | 'member'): Promise<GroupChange>;
  /** the user's role in the group; undefined when not a member (or no such group) */
  role(groupId: number, userId: number): Promise<GroupRole | undefined>;
  /** the members, by userId; undefined when there is no such group */
  members(groupId: number): Promise<GroupMember[] | undefined>;
  /** the user's groups, by groupId */
  mine(userId: number): Promise<GroupMembership[]>;
  /** the gseq of message `id` (`sender:msgId`) in the group: a new one, or the one it already has */
  sequence(groupId: number, id: string, maxIds: number): Promise<GroupSequence>;
  /** runs `fn` while no other exclusive() of this group runs (anywhere sharing this store) */
  exclusive<T>(groupId: number, fn: () => Promise<T>): Promise<T>;
}

/** Members per group unless configured (--group-max-members). */
export const DEFAULT_GROUP_MAX_MEMBERS = 1000;
