/**
 * Received messages: parse, drop what this device has already shown (by sender + msgId, in the injected
 * SeenStore), hand the rest to the 'message' listeners in seq order, and only then acknowledge their seq
 * (DELIVERED). The server keeps every private message until acknowledged and pushes it again at each
 * login, so a crash between display and ack shows nothing twice and loses nothing.
 *
 * Ordering: after a login with maxSeq = M the next live private message is M+1. One arriving early (a seq
 * jumped) is held until the missing ones arrive; when the gap has not filled within `gapTimeoutMs`, the
 * client asks for a SYNC and releases what it holds, in order, rather than hiding it longer.
 */
import { Command, Prop, type CimFrame } from '../../../common/src/codec.ts';
import { attachmentOf } from '../../../common/src/files/attachment.ts';
import type { Logger } from '../../../common/src/log.ts';
import type { ChatMessage } from './events.ts';
import { parseSeq } from './outbox.ts';
import type { DeliveryAcks } from './receipts.ts';
import { seenKey, type SeenStore } from './seen-store.ts';

export interface InboxOptions {
  readonly seenStore: SeenStore;
  readonly acks: DeliveryAcks;
  readonly gapTimeoutMs: number;
  /**
   * A SYNC this often while logged in (0 = never): the safety net for a live push that was lost with no
   * later message to reveal the gap (the inbox keeps it; this fetches it). Default 30 000.
   */
  readonly syncIntervalMs?: number;
  readonly logger: Logger;
  /** This client's user id (the receiver when a frame does not say). */
  readonly userId: () => number;
  /** Runs the 'message' listeners; must not throw. */
  readonly emit: (message: ChatMessage) => void;
  /** Writes a SYNC frame; false when there is no connection. */
  readonly write: (frame: Partial<CimFrame>) => boolean;
}

export class Inbox {
  readonly #options: InboxOptions;
  /** The seq the next live private message should carry; undefined when the server did not say (maxSeq). */
  #nextSeq: number | undefined;
  /** Messages that arrived before an earlier seq, by seq. */
  readonly #held = new Map<number, ChatMessage>();
  #gapTimer: NodeJS.Timeout | undefined;
  #syncs = 0;
  #duplicates = 0;
  #syncTimer: NodeJS.Timeout | undefined;

  constructor(options: InboxOptions) {
    this.#options = options;
  }

  /** SYNC requests sent because of gaps, and duplicates dropped; for tests and info. */
  get stats(): { readonly syncs: number; readonly duplicates: number; readonly held: number } {
    return { syncs: this.#syncs, duplicates: this.#duplicates, held: this.#held.size };
  }

  /** A login succeeded; `maxSeq` is the highest seq of this user's inbox, when the server said. */
  onLogin(maxSeq: number | undefined): void {
    this.#releaseHeld();
    this.#nextSeq = maxSeq === undefined ? undefined : maxSeq + 1;
    if (this.#syncTimer) clearInterval(this.#syncTimer);
    const every = this.#options.syncIntervalMs ?? 30_000;
    // Only protocol-2 logins say maxSeq; CIM's protocol has no SYNC.
    if (every > 0 && maxSeq !== undefined) {
      // From the start: an entry a released gap skipped over is still pending and comes back too.
      this.#syncTimer = setInterval(() => this.#sync('periodic', 0), every);
      // unref only where timers have it (Node): in a browser the timer is a number.
      this.#syncTimer.unref?.();
    }
  }

  /** Asks the server for the pending inbox entries after `afterSeq` (default: the last seq seen in order). */
  #sync(why: string, afterSeq = (this.#nextSeq ?? 1) - 1): void {
    this.#syncs++;
    this.#options.logger.debug({ afterSeq, why }, 'SYNC');
    this.#options.write({ cmd: Command.SYNC, requestId: this.#options.userId(), properties: { [Prop.afterSeq]: String(afterSeq) } });
  }

  /** Handles a MESSAGE or OFFLINE frame from the server. */
  handle(frame: CimFrame): void {
    const messages = parseMessages(frame, this.#options.userId());
    for (const message of messages) this.#accept(message);
  }

  stop(): void {
    if (this.#syncTimer) clearInterval(this.#syncTimer);
    this.#syncTimer = undefined;
    if (this.#gapTimer) clearTimeout(this.#gapTimer);
    this.#gapTimer = undefined;
    this.#held.clear();
  }

  #accept(message: ChatMessage): void {
    const seq = message.seq;
    const next = this.#nextSeq;
    if (seq === undefined || next === undefined || seq < next) return this.#deliver(message);
    if (seq === next) {
      this.#deliver(message);
      this.#nextSeq = seq + 1;
      this.#drainHeld();
      return;
    }
    if (!this.#held.has(seq)) this.#held.set(seq, message);
    this.#gapTimer ??= setTimeout(() => this.#gapExpired(), this.#options.gapTimeoutMs);
  }

  /** Delivers held messages that are next in line. */
  #drainHeld(): void {
    for (let m = this.#held.get(this.#nextSeq!); m; m = this.#held.get(this.#nextSeq!)) {
      this.#held.delete(m.seq!);
      this.#deliver(m);
      this.#nextSeq = m.seq! + 1;
    }
    if (this.#held.size === 0 && this.#gapTimer) {
      clearTimeout(this.#gapTimer);
      this.#gapTimer = undefined;
    }
  }

  #gapExpired(): void {
    this.#gapTimer = undefined;
    this.#options.logger.info({ held: this.#held.size }, 'seq gap did not fill: SYNC');
    this.#sync('gap');
    this.#releaseHeld();
  }

  /** Delivers everything held, in seq order, and moves the expected seq past it. */
  #releaseHeld(): void {
    if (this.#gapTimer) clearTimeout(this.#gapTimer);
    this.#gapTimer = undefined;
    const held = [...this.#held.values()].sort((a, b) => a.seq! - b.seq!);
    this.#held.clear();
    for (const m of held) {
      this.#deliver(m);
      this.#nextSeq = Math.max(this.#nextSeq ?? 0, m.seq! + 1);
    }
  }

  /** Shown at most once; acknowledged (private) after the listeners ran, duplicates included. */
  #deliver(message: ChatMessage): void {
    if (message.msgId !== undefined) {
      const key = seenKey(message.from.userId, message.msgId);
      if (this.#options.seenStore.has(key)) {
        this.#duplicates++;
        this.#options.logger.debug({ msgId: message.msgId, seq: message.seq }, 'duplicate message dropped');
        if (message.seq !== undefined) this.#options.acks.add(message.seq);
        return;
      }
      // Shown first, then remembered: a crash between the two can show a message again, never hide it.
      this.#options.emit(message);
      this.#options.seenStore.add(key);
    } else {
      this.#options.emit(message);
    }
    // Named-group messages are inbox entries too (groupId): acknowledged like private ones.
    if (message.seq !== undefined && (message.chatType === 'private' || message.groupId !== undefined)) this.#options.acks.add(message.seq);
  }
}

/** The messages of a MESSAGE frame (one) or of CIM's OFFLINE batch (one per text). Never throws. */
export function parseMessages(frame: CimFrame, selfId: number): ChatMessage[] {
  const p = frame.properties;
  const msgId = p[Prop.msgId] || undefined;
  const offlineBatch = frame.cmd === Command.OFFLINE;
  const texts = frame.batchReqMsg.length > 0 ? frame.batchReqMsg : [frame.reqMsg];
  const rawSentAt = p[Prop.sentAt];
  const sentAt = rawSentAt !== undefined && /^\d{1,15}$/.test(rawSentAt) ? Number(rawSentAt) : undefined;
  const seq = parseSeq(p[Prop.seq]);
  const replay = p[Prop.replay] === '1';
  const chatType = p[Prop.chatType] === 'group' ? 'group' : seq !== undefined || p[Prop.chatType] === 'private' ? 'private' : 'group';
  const from = { userId: toUserId(p[Prop.sendUserId]), userName: p[Prop.sendUserName] ?? '' };
  const to = toUserId(p[Prop.receiveUserId]) || frame.requestId || selfId;
  const groupId = parseSeq(p[Prop.groupId]);
  const gseq = parseSeq(p[Prop.gseq]);
  const named = chatType === 'group' && groupId !== undefined && gseq !== undefined ? { groupId, gseq } : {};
  // A carbon copy of this user's own send from another device (--login-policy multi): from = this user.
  const carbonTo = parseSeq(p[Prop.carbonTo]);
  const carbon = carbonTo !== undefined && from.userId === selfId ? { carbonTo } : {};
  // A file message's file; unsound file properties are dropped (the text still says what it was).
  const file = attachmentOf(p);
  const attachment = file !== undefined && file !== 'invalid' ? { attachment: file } : {};
  const receivedAt = Date.now();
  // A batch shares one set of ids, so only a single message keeps its msgId and seq.
  const single = texts.length === 1;
  return texts.map((text) => ({
    msgId: single ? msgId : undefined,
    from,
    to,
    text,
    chatType,
    seq: single ? seq : undefined,
    sentAt,
    receivedAt,
    replay,
    offline: replay || offlineBatch,
    ...(single ? { ...named, ...attachment, ...carbon } : {}),
  }));
}

function toUserId(value: string | undefined): number {
  if (value === undefined || !/^\d{1,16}$/.test(value)) return 0;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : 0;
}
