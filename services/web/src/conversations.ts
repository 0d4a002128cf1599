/**
 * The page's model, free of DOM and network: conversations (the group "everyone online" and one per
 * user), their messages, unread counts and the delivery marks of what this user sent. main.ts feeds it
 * the SDK's events and renders it; conversations.test.ts checks it alone.
 */
import type { ChatMessage, ReceiptEvent } from '../../client/src/sdk/client.ts';
import type { HistoryMessage } from '../../client/src/sdk/route-api.ts';

export const GROUP = 'group';
export type ConversationKey = typeof GROUP | `u:${number}`;
/** sending → sent (stored / accepted) → delivered (the receiver's client got it) → read; or failed. */
export type Mark = 'sending' | 'sent' | 'delivered' | 'read' | 'failed';
const MARK_RANK: Record<Mark, number> = { failed: 0, sending: 1, sent: 2, delivered: 3, read: 4 };

export interface Line {
  readonly msgId: string;
  readonly mine: boolean;
  readonly author: string;
  readonly text: string;
  readonly at: number;
  mark?: Mark;
  error?: string;
}

export interface Conversation {
  readonly key: ConversationKey;
  title: string;
  readonly peerId: number | undefined;
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

export class Conversations {
  readonly #byKey = new Map<ConversationKey, Conversation>();
  /** msgId → the line of a message this user sent, for receipts. */
  readonly #sent = new Map<string, Line>();
  active: ConversationKey = GROUP;

  constructor() {
    this.#ensure(GROUP, 'Everyone online', undefined);
  }

  get(key: ConversationKey): Conversation | undefined {
    return this.#byKey.get(key);
  }

  /** The group first, then private conversations by title. */
  list(): Conversation[] {
    const all = [...this.#byKey.values()];
    return [all[0]!, ...all.slice(1).sort((a, b) => a.title.localeCompare(b.title))];
  }

  /** A private conversation with this user (created empty when new; the title follows renames). */
  withUser(userId: number, userName: string): Conversation {
    const c = this.#ensure(userKey(userId), userName, userId);
    c.title = userName;
    return c;
  }

  /** Adds a received message; returns its conversation and whether it is in view (then it counts as read). */
  receive(message: ChatMessage, inView: (key: ConversationKey) => boolean): { conversation: Conversation; seen: boolean } {
    const c = message.chatType === 'group' ? this.#byKey.get(GROUP)! : this.withUser(message.from.userId, message.from.userName);
    push(c, { msgId: message.msgId ?? '', mine: false, author: message.from.userName, text: message.text, at: message.sentAt ?? message.receivedAt });
    const seen = inView(c.key);
    if (!seen) {
      c.unread += 1;
      if (message.chatType === 'private') c.unreadMessages.push(message);
    }
    return { conversation: c, seen };
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

  receipt(receipt: ReceiptEvent): boolean {
    return this.mark(receipt.msgId, receipt.status === 'read' ? 'read' : 'delivered');
  }

  /**
   * Puts the server's history of a private conversation (oldest first) before what the page already shows:
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

  #ensure(key: ConversationKey, title: string, peerId: number | undefined): Conversation {
    let c = this.#byKey.get(key);
    if (!c) {
      c = { key, title, peerId, lines: [], unread: 0, unreadMessages: [], historyRequested: false };
      this.#byKey.set(key, c);
    }
    return c;
  }
}

function push(c: Conversation, line: Line): void {
  c.lines.push(line);
  if (c.lines.length > MAX_LINES) c.lines.splice(0, c.lines.length - MAX_LINES);
}
