/** Validation shared by both GroupStore backends: a bad argument fails loudly instead of being stored. */
import type { Group } from './types.ts';

// The same rules as user names (route app.ts, auth-external.ts): no control, line-separator or bidi characters,
// no leading/trailing whitespace, 1..256 characters.
const NAME = /^(?!\s)(?![\s\S]*\s$)[^\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]{1,256}$/u;
const ID = /^\d{1,16}:[A-Za-z0-9_-]{1,64}$/;

const isPositiveInt = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) > 0;

export const isGroupName = (name: unknown): name is string => typeof name === 'string' && NAME.test(name);

export function checkGroupName(name: string): void {
  if (!isGroupName(name)) throw new RangeError('groups: bad name (the user-name rules apply)');
}

export function checkId(what: string, id: number): void {
  if (!isPositiveInt(id)) throw new RangeError(`groups: bad ${what} ${String(id)}`);
}

export function checkMax(max: number): void {
  if (!isPositiveInt(max)) throw new RangeError(`groups: bad limit ${String(max)}`);
}

export function checkMessageId(id: string): void {
  if (typeof id !== 'string' || !ID.test(id)) throw new RangeError('groups: bad message id (sender:msgId)');
}

/** A group from stored fields; undefined when they are not one (never throws on stored bytes). */
export function parseGroup(groupId: number, f: Record<string, string>): Group | undefined {
  const owner = Number(f['owner']);
  const createdAt = Number(f['createdAt']);
  if (!isGroupName(f['name']) || !isPositiveInt(owner) || !Number.isSafeInteger(createdAt)) return undefined;
  return { groupId, name: f['name'], owner, open: f['open'] === '1', createdAt };
}
