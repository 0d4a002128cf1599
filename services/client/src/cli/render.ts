/** Turning things into console text. Pure: time and colour are parameters. */
import { emojify, search as searchEmoji } from 'node-emoji';
import type { ChatMessage, HistoryMessage, OnlineUser, PresenceEvent } from '../index.ts';
import { COMMANDS, MESSAGE_FORMS } from './commands.ts';

/** CIM's highlight (reference §8.7): red + underline. */
const HIGHLIGHT_ON = '\u001b[31;4m';
const HIGHLIGHT_OFF = '\u001b[0m';

export const EMOJI_PAGE_SIZE = 10;

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** "2026-11-22 19:43:03" in local time, CIM's console format. */
export function formatTime(date: Date): string {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** ISO 8601 with milliseconds and the local offset: "2026-11-22T20:43:03.123+01:00". */
export function formatIsoLocal(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `.${pad(date.getMilliseconds(), 3)}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}

/** Wraps every case-insensitive occurrence of `needle` in the highlight, or in nothing when colour is off. */
export function highlight(text: string, needle: string, color: boolean): string {
  if (!color || needle === '') return text;
  const lower = text.toLowerCase();
  const target = needle.toLowerCase();
  let out = '';
  let from = 0;
  for (let at = lower.indexOf(target); at !== -1; at = lower.indexOf(target, from)) {
    out += text.slice(from, at) + HIGHLIGHT_ON + text.slice(at, at + needle.length) + HIGHLIGHT_OFF;
    from = at + needle.length;
  }
  return out + text.slice(from);
}

export function renderText(text: string): string {
  return emojify(text);
}

/** `groupName`: the name of a named group's message's group, when known (else its id shows). */
export function formatIncoming(message: ChatMessage, groupName?: string): string {
  if (message.carbonTo !== undefined) {
    // This user's own message from another of its devices (--login-policy multi).
    const where = message.groupId !== undefined ? `#${groupName ?? message.groupId}` : `#${message.carbonTo}`;
    return `[${formatTime(new Date(message.sentAt ?? message.receivedAt))}] ${SENT_MARK} you (another device) -> ${where}: ${renderText(message.text)}`;
  }
  const sender = message.from.userName || (message.from.userId ? `#${message.from.userId}` : 'nobody');
  const tag = message.offline ? ' (offline)' : '';
  const group = message.groupId !== undefined ? `#${groupName ?? message.groupId} ` : '';
  return `[${formatTime(new Date(message.sentAt ?? message.receivedAt))}] ${group}${sender}${tag}: ${renderText(message.text)}`;
}

/** One message of the server-side history (`:history`), from this user's point of view. */
export function formatHistoryMessage(m: HistoryMessage, selfId: number | undefined): string {
  const who = m.from.userId === selfId ? 'you' : m.from.userName || `#${m.from.userId}`;
  return `[${formatIsoLocal(new Date(m.sentAt)).slice(0, 19).replace('T', ' ')}] #${m.seq} ${who}: ${renderText(m.text)}`;
}

/** The mark of a message the server accepted (private: stored in the receiver's inbox). */
export const SENT_MARK = '✓';

export function formatOutgoing(now: Date, peer: string, text: string): string {
  return `[${formatTime(now)}] ${SENT_MARK} you -> ${peer}: ${renderText(text)}`;
}

/** One JSON line per received message (--json). */
/** `reshown`: an earlier run died while printing this message, so the user may have seen it (seen-file.ts). */
export function messageJson(message: ChatMessage, reshown = false): string {
  return JSON.stringify({
    type: 'message',
    msgId: message.msgId ?? null,
    from: message.from,
    to: message.to,
    text: message.text,
    chatType: message.chatType,
    seq: message.seq ?? null,
    ...(message.groupId !== undefined ? { groupId: message.groupId, gseq: message.gseq ?? null } : {}),
    ...(message.attachment ? { attachment: message.attachment } : {}),
    ...(message.carbonTo !== undefined ? { carbonTo: message.carbonTo } : {}),
    sentAt: message.sentAt ?? null,
    receivedAt: message.receivedAt,
    replay: message.replay,
    offline: message.offline,
    ...(reshown ? { reshown: true } : {}),
  });
}

export function formatHelp(): string[] {
  const rows = [...COMMANDS, ...MESSAGE_FORMS];
  const width = Math.max(...rows.map((r) => r.usage.length)) + 2;
  return ['====================', ...rows.map((r) => `${r.usage.padEnd(width)}${r.description}`), '===================='];
}

export function formatOnlineUsers(users: readonly OnlineUser[], selfId: number | undefined): string[] {
  if (users.length === 0) return ['nobody is online'];
  return [
    ...users.map((u) => `userId=${u.userId} userName=${u.userName}${u.userId === selfId ? ' (you)' : ''}`),
    `${users.length} online`,
  ];
}

export interface EmojiPage {
  readonly lines: string[];
  readonly pages: number;
}

/** Page `page` (from 1) of every emoji node-emoji knows, as ":alias: emoji"; no lines past the end. */
export function emojiPage(page: number): EmojiPage {
  const all = searchEmoji('');
  const pages = Math.ceil(all.length / EMOJI_PAGE_SIZE);
  if (page < 1 || page > pages) return { lines: [], pages };
  const lines = all.slice((page - 1) * EMOJI_PAGE_SIZE, page * EMOJI_PAGE_SIZE).map((e) => `:${e.name}: ${e.emoji}`);
  return { lines: [...lines, `page ${page}/${pages}; type an alias in a message, e.g. "hi :${all[0]?.name ?? 'smile'}:"`], pages };
}

/** A contact's presence change: `* bob is online`. */
export function formatPresence(p: PresenceEvent): string {
  return `* ${renderText(p.userName || `#${p.userId}`)} is ${p.online ? 'online' : 'offline'}`;
}

export function presenceJson(p: PresenceEvent): string {
  return JSON.stringify({ type: 'presence', userId: p.userId, userName: p.userName, online: p.online, at: p.at });
}
