/**
 * The page's model, free of DOM and network: conversations (CIM's "everyone online" group, this user's
 * named groups and one per user), their messages, unread counts and the delivery marks of what this user
 * sent. main.ts feeds it the SDK's events and renders it; conversations.test.ts checks it alone.
 */
import type { ChatMessage, ReceiptEvent } from '../../client/src/sdk/client.ts';
import type { HistoryMessage } from '../../client/src/sdk/route-api.ts';

export const GROUP = 'group';
/** "everyone online", a named group (`g:<groupId>`) or a private conversation (`u:<userId>`). */
export type ConversationKey = typeof GROUP | `g:${number}` | `u:${number}`;
/** sending → sent (stored / accepted) → delivered (the receiver's client got it) → read; or failed. */
export type Mark = 'sending' | 'sent' | 'delivered' | 'read' | 'failed';
const MARK_RANK: Record<Mark, number> = { failed: 0, sending: 1, sent: 2, delivered: 3, read: 4 };

export interface Line {
  readonly msgId: string;
  readonly mine: boolean;
  readonly author: string;
  readonly text: string;
  readonly at: number;
  /** Named groups: the message's place in its group (for mine, known once SENT). */
  gseq?: number;
  mark?: Mark;
  error?: string;
}

export interface Conversation {
  readonly key: ConversationKey;
  title: string;
  readonly peerId: number | undefined;
  /** Named groups: the group's id (shared so that others can join). */
  readonly groupId: number | undefined;
  readonly lines: Line[];
  unread: number;
  /** Private messages shown while the conversation was not in view: marked read when it is opened. */
  unreadMessages: ChatMessage[];
  /** The server's history of this conversation was asked for (once per page load and login). */
  historyRequested: boolean;
}

/** Lines kept per conversation: the page is a live view, not an archive. */
export const MAX_LINES = 500;

export const userKey = (userId: number): ConversationKey => `u:${userId}`;
export const groupKey = (groupId: number): ConversationKey => `g:${groupId}`;

export class Conversations {
  readonly #byKey = new Map<ConversationKey, Conversation>();
  /** msgId → the line of a message this user sent, for receipts. */
  readonly #sent = new Map<string, Line>();
  active: ConversationKey = GROUP;

  constructor() {
    this.#ensure(GROUP, 'Everyone online', {});
  }

  get(key: ConversationKey): Conversation | undefined {
    return this.#byKey.get(key);
  }

  /** "Everyone online" first, then the named groups by title (then id), then private conversations by title. */
  list(): Conversation[] {
    const all = [...this.#byKey.values()];
    const byTitle = (a: Conversation, b: Conversation) => a.title.localeCompare(b.title) || (a.groupId ?? 0) - (b.groupId ?? 0);
    const groups = all.filter((c) => c.groupId !== undefined).sort(byTitle);
    const users = all.filter((c) => c.peerId !== undefined).sort(byTitle);
    return [this.#byKey.get(GROUP)!, ...groups, ...users];
  }

  /** A private conversation with this user (created empty when new; the title follows renames). */
  withUser(userId: number, userName: string): Conversation {
    const c = this.#ensure(userKey(userId), userName, { peerId: userId });
    c.title = userName;
    return c;
  }

  /** A named group's conversation (created empty when new); `name` undefined keeps the title known so far. */
  withGroup(groupId: number, name?: string): Conversation {
    const c = this.#ensure(groupKey(groupId), name ?? `Group ${groupId}`, { groupId });
    if (name !== undefined) c.title = name;
    return c;
  }

  /**
   * Adds a received message; returns its conversation, whether it is in view (then it counts as read) and
   * whether it was new. Named-group messages (groupId set) go to their group, in gseq order; a message the
   * conversation already shows (the server's history came first) is not added again.
   */
  receive(message: ChatMessage, inView: (key: ConversationKey) => boolean): { conversation: Conversation; seen: boolean; added: boolean } {
    // A carbon copy (--login-policy multi): this user's own message, sent from another of its devices.
    const carbonTo = message.carbonTo;
    const c =
      message.groupId !== undefined ? this.withGroup(message.groupId)
      : message.chatType === 'group' ? this.#byKey.get(GROUP)!
      : carbonTo !== undefined ? (this.#byKey.get(userKey(carbonTo)) ?? this.withUser(carbonTo, `User ${carbonTo}`))
      : this.withUser(message.from.userId, message.from.userName);
    const mine = carbonTo !== undefined;
    const msgId = message.msgId ?? '';
    if (msgId !== '' && c.key !== GROUP && c.lines.some((l) => l.mine === mine && l.msgId === msgId && l.author === message.from.userName)) {
      return { conversation: c, seen: true, added: false };
    }
    const line: Line = { msgId, mine, author: message.from.userName, text: message.text, at: message.sentAt ?? message.receivedAt, ...(mine ? { mark: 'sent' as const } : {}) };
    if (message.gseq !== undefined) {
      line.gseq = message.gseq;
      insertByGseq(c, line);
    } else push(c, line);
    // One's own message is never unread.
    const seen = mine || inView(c.key);
    if (!seen) {
      c.unread += 1;
      if (message.chatType === 'private') c.unreadMessages.push(message);
    }
    return { conversation: c, seen, added: true };
  }

  /** Adds a message this user is sending, marked `sending`. */
  send(key: ConversationKey, msgId: string, author: string, text: string, at: number): Line {
    const c = this.#byKey.get(key);
    if (!c) throw new Error(`no conversation ${key}`);
    const line: Line = { msgId, mine: true, author, text, at, mark: 'sending' };
    push(c, line);
    this.#sent.set(msgId, line);
    if (this.#sent.size > MAX_LINES * 4) this.#sent.delete(this.#sent.keys().next().value!);
    return line;
  }

  /** Moves a sent line's mark forward (never back: a late SENT must not undo a READ); false for unknown ids. */
  mark(msgId: string, mark: Mark, error?: string): boolean {
    const line = this.#sent.get(msgId);
    if (!line) return false;
    if (mark !== 'failed' && MARK_RANK[mark] <= MARK_RANK[line.mark ?? 'sending']) return false;
    line.mark = mark;
    if (error !== undefined) line.error = error;
    return true;
  }

  /**
   * A named-group send was SENT with this gseq: the line takes its place among the group's messages (one
   * received meanwhile with a higher gseq moves after it). False for unknown ids.
   */
  placeSent(key: ConversationKey, msgId: string, gseq: number): boolean {
    const line = this.#sent.get(msgId);
    const c = this.#byKey.get(key);
    if (!line || !c) return false;
    line.gseq = gseq;
    const i = c.lines.indexOf(line);
    if (i < 0) return true; // already scrolled out
    c.lines.splice(i, 1);
    insertByGseq(c, line);
    return true;
  }

  receipt(receipt: ReceiptEvent): boolean {
    if (receipt.sender !== undefined) return this.#readElsewhere(receipt.sender, receipt.msgId);
    return this.mark(receipt.msgId, receipt.status === 'read' ? 'read' : 'delivered');
  }

  /** This user read `msgId` of `sender` on another device (--login-policy multi): it is no longer unread here. */
  #readElsewhere(sender: number, msgId: string): boolean {
    const c = this.#byKey.get(userKey(sender));
    const at = c?.unreadMessages.findIndex((m) => m.msgId === msgId) ?? -1;
    if (!c || at < 0) return false;
    c.unreadMessages.splice(at, 1);
    c.unread = Math.max(0, c.unread - 1);
    return true;
  }

  /**
   * Puts the server's history of a conversation, private or named group (oldest first: in gseq order for a
   * group), before what the page already shows:
   * a message already shown (live, replayed) keeps its line and mark, and appears once, at its place in the
   * history. Messages this user sent that only the history knows are marked sent (the server stored them).
   */
  mergeHistory(key: ConversationKey, messages: readonly HistoryMessage[], selfId: number | undefined): void {
    const c = this.#byKey.get(key);
    if (!c) return;
    const shown = new Map(c.lines.map((l) => [l.msgId, l]));
    const fromHistory = messages.map((m): Line => {
      const existing = shown.get(m.msgId);
      if (existing) return existing;
      const mine = m.from.userId === selfId;
      return { msgId: m.msgId, mine, author: m.from.userName, text: m.text, at: m.sentAt, ...(mine ? { mark: 'sent' as const } : {}) };
    });
    const inHistory = new Set(messages.map((m) => m.msgId));
    const merged = [...fromHistory, ...c.lines.filter((l) => !inHistory.has(l.msgId))];
    c.lines.splice(0, c.lines.length, ...merged.slice(Math.max(0, merged.length - MAX_LINES)));
  }

  /** Opens a conversation: clears its unread count and returns the private messages to mark read. */
  open(key: ConversationKey): ChatMessage[] {
    const c = this.#byKey.get(key);
    if (!c) return [];
    this.active = key;
    const toMark = c.unreadMessages;
    c.unread = 0;
    c.unreadMessages = [];
    return toMark;
  }

  #ensure(key: ConversationKey, title: string, ids: { peerId?: number; groupId?: number }): Conversation {
    let c = this.#byKey.get(key);
    if (!c) {
      c = { key, title, peerId: ids.peerId, groupId: ids.groupId, lines: [], unread: 0, unreadMessages: [], historyRequested: false };
      this.#byKey.set(key, c);
    }
    return c;
  }
}

/**
 * Inserts a named-group line after the last line that comes before it: one with a lower gseq, or one without
 * a gseq that is not a send of mine still waiting for its gseq (lines from the history, which are older).
 */
function insertByGseq(c: Conversation, line: Line): void {
  const g = line.gseq ?? Number.MAX_SAFE_INTEGER;
  let i = c.lines.length;
  while (i > 0) {
    const before = c.lines[i - 1]!;
    const unplacedMine = before.mine && before.gseq === undefined && before.mark !== 'sent' && before.mark !== 'delivered' && before.mark !== 'read';
    if (before.gseq !== undefined ? before.gseq <= g : !unplacedMine) break;
    i--;
  }
  c.lines.splice(i, 0, line);
  if (c.lines.length > MAX_LINES) c.lines.splice(0, c.lines.length - MAX_LINES);
}

function push(c: Conversation, line: Line): void {
  c.lines.push(line);
  if (c.lines.length > MAX_LINES) c.lines.splice(0, c.lines.length - MAX_LINES);
}
