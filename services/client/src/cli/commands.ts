/**
 * What a typed line means. Pure: parseLine(line) → Action, no I/O. Keeps CIM's console habits
 * (reference §8.2, §8.3) and fixes its bugs (§12 item 14): bad arguments give a `usage` action instead
 * of killing the input loop, `:delay` takes a multi-word message, a line starting with an emoji alias
 * (`:smile: hi`) is a message, not a command, and `userId;;text` keeps text after a second `;;`.
 * `:delay` takes CIM's order (`:delay MESSAGE SECONDS`) and ours (`:delay SECONDS MESSAGE`); see parseDelay.
 */
import { has as isEmojiAlias } from 'node-emoji';

export type SendAction =
  | { readonly kind: 'group'; readonly text: string }
  | { readonly kind: 'private'; readonly to: number; readonly text: string }
  | { readonly kind: 'privateByName'; readonly userName: string; readonly text: string }
  | { readonly kind: 'toGroup'; readonly groupId: number; readonly text: string };

/** Named-group commands (docs/delivery.md "Named groups"). */
export type GroupCommand =
  | { readonly op: 'mine' }
  | { readonly op: 'create'; readonly name: string }
  | { readonly op: 'join' | 'leave' | 'members'; readonly groupId: number }
  | { readonly op: 'invite'; readonly groupId: number; readonly userId: number };

/** Contact commands (docs/delivery.md "Contacts and presence"). */
export type ContactCommand = { readonly op: 'list' } | { readonly op: 'add' | 'remove'; readonly userId: number };

export type Action =
  | SendAction
  | { readonly kind: 'empty' }
  | { readonly kind: 'quit' }
  | { readonly kind: 'online' }
  | { readonly kind: 'help'; readonly unknown?: string }
  | { readonly kind: 'search'; readonly keyword: string }
  | { readonly kind: 'serverHistory'; readonly peer: number; readonly count: number }
  | { readonly kind: 'prefix'; readonly prefix: string }
  | { readonly kind: 'info' }
  | { readonly kind: 'emoji'; readonly page: number }
  | { readonly kind: 'delay'; readonly seconds: number; readonly message: SendAction; readonly note?: string }
  | { readonly kind: 'aiOn' }
  | { readonly kind: 'aiOff' }
  | { readonly kind: 'group-command'; readonly command: GroupCommand }
  | { readonly kind: 'contact-command'; readonly command: ContactCommand }
  | { readonly kind: 'file'; readonly to: number; readonly path: string }
  | { readonly kind: 'get'; readonly id: string; readonly dir: string }
  | { readonly kind: 'usage'; readonly message: string };

export const DEFAULT_HISTORY_COUNT = 20;
export const MAX_HISTORY_COUNT = 200;

export interface CommandSpec {
  readonly key: string;
  readonly usage: string;
  readonly description: string;
}

/** CIM's command names (SystemCommandEnum), in the order `:all` lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  { key: ':q!', usage: ':q!', description: 'quit: log out and exit' },
  { key: ':olu', usage: ':olu', description: 'list online users' },
  { key: ':all', usage: ':all', description: 'list all commands' },
  { key: ':q', usage: ':q KEYWORD', description: 'search your chat history for KEYWORD (highlighted)' },
  { key: ':history', usage: ':history USERID [COUNT]', description: `the last COUNT (default ${DEFAULT_HISTORY_COUNT}, at most ${MAX_HISTORY_COUNT}) messages with USERID, kept on the server (any device)` },
  { key: ':pu', usage: ':pu PREFIX', description: 'online users whose name starts with PREFIX' },
  { key: ':info', usage: ':info', description: 'show client info' },
  { key: ':emoji', usage: ':emoji [PAGE]', description: 'list emoji with their :alias: (type the alias in a message)' },
  { key: ':delay', usage: ':delay SECONDS MESSAGE…', description: 'send MESSAGE (any message line) after SECONDS; CIM\'s order :delay MESSAGE SECONDS works too' },
  { key: ':groups', usage: ':groups', description: 'list your named groups (id, name, your role)' },
  { key: ':create', usage: ':create NAME', description: 'create an open named group; you are its owner' },
  { key: ':join', usage: ':join GROUPID', description: 'join an open named group' },
  { key: ':leave', usage: ':leave GROUPID', description: 'leave a named group' },
  { key: ':members', usage: ':members GROUPID', description: 'the members of a named group you are in' },
  { key: ':invite', usage: ':invite GROUPID USERID', description: 'add a user to a named group (admins and the owner)' },
  { key: ':contacts', usage: ':contacts', description: 'list your contacts and who of them is online' },
  { key: ':add', usage: ':add USERID', description: 'add a contact: you are told when they go online or offline' },
  { key: ':remove', usage: ':remove USERID', description: 'remove a contact' },
  { key: ':file', usage: ':file USERID PATH', description: 'send the file at PATH to a user id (a file message; the receiver saves it with :get)' },
  { key: ':get', usage: ':get MSGID [DIR]', description: 'save the file of a file message shown here into DIR (default: the current directory)' },
  { key: ':ai', usage: ':ai', description: 'AI mode on: local joke replies, nothing is sent' },
  { key: ':qai', usage: ':qai', description: 'AI mode off' },
];

/** Message forms, listed by `:all` after the commands. */
export const MESSAGE_FORMS: readonly CommandSpec[] = [
  { key: 'TEXT', usage: 'TEXT', description: 'group message to everyone online' },
  { key: ';;', usage: 'USERID;;TEXT', description: 'private message to a user id' },
  { key: '@', usage: '@NAME TEXT', description: 'private message to an online user by name' },
  { key: '#', usage: '#GROUPID TEXT', description: 'message to a named group you are in' },
];

export const MAX_DELAY_SECONDS = 86_400;

const usageOf = (key: string): string => `usage: ${[...COMMANDS, ...MESSAGE_FORMS].find((c) => c.key === key)!.usage}`;

export function parseLine(raw: string): Action {
  const line = raw.trim();
  if (line === '') return { kind: 'empty' };
  if (line.startsWith(':') && !startsWithEmojiAlias(line)) return parseCommand(line);
  return parseMessage(line);
}

function startsWithEmojiAlias(line: string): boolean {
  const first = /^:([A-Za-z0-9_+-]+):(?=\s|$)/.exec(line);
  return first !== null && isEmojiAlias(first[1]!);
}

function parseCommand(line: string): Action {
  const space = line.search(/\s/);
  const key = space === -1 ? line : line.slice(0, space);
  const rest = space === -1 ? '' : line.slice(space).trim();
  const args = rest === '' ? [] : rest.split(/\s+/);
  switch (key) {
    case ':q!':
      return { kind: 'quit' };
    case ':olu':
      return { kind: 'online' };
    case ':all':
      return { kind: 'help' };
    case ':info':
      return { kind: 'info' };
    case ':ai':
      return { kind: 'aiOn' };
    case ':qai':
      return { kind: 'aiOff' };
    case ':q':
      return rest === '' ? { kind: 'usage', message: usageOf(':q') } : { kind: 'search', keyword: rest };
    case ':history': {
      const [peer, count] = args;
      const ok = (v: string | undefined, max: number) => v !== undefined && /^\d{1,16}$/.test(v) && Number(v) >= 1 && Number(v) <= max;
      if (args.length < 1 || args.length > 2 || !ok(peer, Number.MAX_SAFE_INTEGER) || (count !== undefined && !ok(count, MAX_HISTORY_COUNT))) {
        return { kind: 'usage', message: `${usageOf(':history')} (USERID is a user id, COUNT is 1..${MAX_HISTORY_COUNT})` };
      }
      return { kind: 'serverHistory', peer: Number(peer), count: count === undefined ? DEFAULT_HISTORY_COUNT : Number(count) };
    }
    case ':groups':
      return { kind: 'group-command', command: { op: 'mine' } };
    case ':create':
      return rest === '' ? { kind: 'usage', message: usageOf(':create') } : { kind: 'group-command', command: { op: 'create', name: rest } };
    case ':join':
    case ':leave':
    case ':members': {
      const groupId = args.length === 1 ? idOf(args[0]) : undefined;
      if (groupId === undefined) return { kind: 'usage', message: `${usageOf(key)} (GROUPID is a group id)` };
      return { kind: 'group-command', command: { op: key.slice(1) as 'join' | 'leave' | 'members', groupId } };
    }
    case ':invite': {
      const [groupId, userId] = args.length === 2 ? [idOf(args[0]), idOf(args[1])] : [];
      if (groupId === undefined || userId === undefined) return { kind: 'usage', message: `${usageOf(':invite')} (both are ids)` };
      return { kind: 'group-command', command: { op: 'invite', groupId, userId } };
    }
    case ':contacts':
      return { kind: 'contact-command', command: { op: 'list' } };
    case ':add':
    case ':remove': {
      const userId = args.length === 1 ? idOf(args[0]) : undefined;
      if (userId === undefined) return { kind: 'usage', message: `${usageOf(key)} (USERID is a user id)` };
      return { kind: 'contact-command', command: { op: key === ':add' ? 'add' : 'remove', userId } };
    }
    case ':pu':
      return args.length !== 1 ? { kind: 'usage', message: usageOf(':pu') } : { kind: 'prefix', prefix: args[0]! };
    case ':emoji': {
      if (args.length === 0) return { kind: 'emoji', page: 1 };
      if (args.length > 1 || !/^\d+$/.test(args[0]!) || Number(args[0]) < 1) {
        return { kind: 'usage', message: `${usageOf(':emoji')} (PAGE is a number from 1)` };
      }
      return { kind: 'emoji', page: Number(args[0]) };
    }
    case ':delay':
      return parseDelay(rest);
    case ':file': {
      // The path is the rest of the line: it may contain spaces.
      const m = /^(\d{1,16})\s+(\S.*)$/.exec(rest);
      const to = m ? idOf(m[1]) : undefined;
      return to === undefined ? { kind: 'usage', message: `${usageOf(':file')} (USERID is a user id)` } : { kind: 'file', to, path: m![2]! };
    }
    case ':get': {
      const m = /^([A-Za-z0-9_-]{1,64})(?:\s+(\S.*))?$/.exec(rest);
      return m ? { kind: 'get', id: m[1]!, dir: m[2] ?? '.' } : { kind: 'usage', message: `${usageOf(':get')} (MSGID as printed after [file])` };
    }
    default:
      return { kind: 'help', unknown: key };
  }
}

const isSeconds = (token: string): boolean => /^\d+(?:\.\d+)?$/.test(token) && Number(token) > 0 && Number(token) <= MAX_DELAY_SECONDS;

/**
 * `:delay SECONDS MESSAGE` (ours: first token numeric) or `:delay MESSAGE SECONDS` (CIM's: last token
 * numeric). When both read as a valid delayed message (`:delay 5 hi 10`), ours wins, because a message
 * may well end with a number ("call me in 10") but rarely starts with one; the action then carries a
 * note saying so and how to get the other reading.
 */
function parseDelay(rest: string): Action {
  const oursMatch = /^(\S+)\s+(\S.*)$/.exec(rest);
  const cimMatch = /^(\S.*?)\s+(\S+)$/.exec(rest);
  const ours = oursMatch && isSeconds(oursMatch[1]!) ? delayOf(Number(oursMatch[1]), oursMatch[2]!) : undefined;
  const cim = cimMatch && isSeconds(cimMatch[2]!) ? delayOf(Number(cimMatch[2]), cimMatch[1]!) : undefined;
  if (ours?.kind === 'delay' && cim?.kind === 'delay') {
    const note = `read as :delay SECONDS MESSAGE (${ours.seconds} s); for CIM's order (MESSAGE SECONDS) write :delay ${cim.seconds} ${cimMatch![1]}`;
    return { ...ours, note };
  }
  if (ours?.kind === 'delay') return ours;
  if (cim?.kind === 'delay') return cim;
  return ours ?? cim ?? { kind: 'usage', message: `${usageOf(':delay')} (0 < SECONDS <= ${MAX_DELAY_SECONDS})` };
}

function delayOf(seconds: number, text: string): Action {
  const message = parseLine(text);
  if (message.kind === 'usage') return message;
  if (message.kind !== 'group' && message.kind !== 'private' && message.kind !== 'privateByName' && message.kind !== 'toGroup') {
    return { kind: 'usage', message: `${usageOf(':delay')} (only messages can be delayed, not commands)` };
  }
  return { kind: 'delay', seconds, message };
}

/** A positive id, or undefined. */
function idOf(v: string | undefined): number | undefined {
  return v !== undefined && /^\d{1,16}$/.test(v) && Number.isSafeInteger(Number(v)) && Number(v) > 0 ? Number(v) : undefined;
}

function parseMessage(line: string): Action {
  // `#12 hello`: a named group's message; any other line starting with '#' stays an everyone-online message.
  const toGroup = /^#(\d{1,16})\s+(\S.*)$/.exec(line);
  if (toGroup && idOf(toGroup[1]) !== undefined) return { kind: 'toGroup', groupId: Number(toGroup[1]), text: toGroup[2]! };
  const sep = line.indexOf(';;');
  if (sep !== -1) {
    const head = line.slice(0, sep).trim();
    const text = line.slice(sep + 2).trim();
    if (/^\d+$/.test(head)) {
      const to = Number(head);
      if (!Number.isSafeInteger(to) || to <= 0 || text === '') return { kind: 'usage', message: `${usageOf(';;')} (USERID is a positive number, TEXT is not empty)` };
      return { kind: 'private', to, text };
    }
    // One token before ";;" looks like a mistyped id; a sentence containing ";;" is a group message.
    if (!/\s/.test(head)) return { kind: 'usage', message: `${usageOf(';;')} (USERID is a number; to write to a name use @NAME TEXT)` };
  }
  if (line.startsWith('@') && !line.startsWith('@ ')) {
    const match = /^@(\S+)\s+(\S.*)$/.exec(line);
    if (!match) return { kind: 'usage', message: usageOf('@') };
    return { kind: 'privateByName', userName: match[1]!, text: match[2]! };
  }
  return { kind: 'group', text: line };
}
