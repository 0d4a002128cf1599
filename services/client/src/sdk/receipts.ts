/**
 * RECEIPT frames, both directions: DELIVERED acknowledgements of this user's inbox seqs (batched, as
 * ranges "5-9", "12"), READ receipts for messages this user displayed, and the receipts the server
 * pushes to this user as a sender.
 */
import { Command, Prop, ReceiptStatus, type CimFrame } from '../../../common/src/codec.ts';
import type { ChatMessage, ReceiptEvent } from './events.ts';

/** [5,6,7,9,12] → ["5-7","9","12"]; input in any order, duplicates ignored. */
export function encodeSeqRanges(seqs: Iterable<number>): string[] {
  const sorted = [...new Set(seqs)].sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    ranges.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return ranges;
}

/** The receipts a RECEIPT frame from the server reports; [] for anything malformed (never throws). */
export function parseReceipt(frame: CimFrame): ReceiptEvent[] {
  const status = frame.properties[Prop.status];
  if (status !== ReceiptStatus.delivered && status !== ReceiptStatus.read) return [];
  const to = Number(frame.properties[Prop.receiveUserId]);
  if (!Number.isSafeInteger(to) || to <= 0) return [];
  // A read on another device of this user names whose messages were read.
  const sender = status === ReceiptStatus.read ? Number(frame.properties[Prop.sendUserId]) : Number.NaN;
  const about = Number.isSafeInteger(sender) && sender > 0 ? { sender } : {};
  return frame.batchReqMsg.filter((id) => typeof id === 'string' && id !== '').map((msgId) => ({ msgId, to, status, ...about }));
}

/** RECEIPT read frames for `messages`: one per sender, private messages with a msgId only. */
export function readReceiptFrames(messages: readonly ChatMessage[], userId: number): Partial<CimFrame>[] {
  const bySender = new Map<number, Set<string>>();
  for (const m of messages) {
    if (m.chatType !== 'private' || m.msgId === undefined || m.from.userId <= 0 || m.from.userId === userId) continue;
    let ids = bySender.get(m.from.userId);
    if (!ids) bySender.set(m.from.userId, (ids = new Set()));
    ids.add(m.msgId);
  }
  const frames: Partial<CimFrame>[] = [];
  for (const [sender, set] of bySender) {
    const ids = [...set];
    for (let i = 0; i < ids.length; i += READ_IDS_PER_FRAME) {
      frames.push({
        cmd: Command.RECEIPT,
        requestId: userId,
        properties: { [Prop.status]: ReceiptStatus.read, [Prop.receiveUserId]: String(sender) },
        batchReqMsg: ids.slice(i, i + READ_IDS_PER_FRAME),
      });
    }
  }
  return frames;
}

/** msgIds per READ frame; the server ignores a READ receipt with more than 1000. */
const READ_IDS_PER_FRAME = 500;

export interface DeliveryAcksOptions {
  /** Writes one RECEIPT frame; false when no connection takes it (the seqs are kept for later). */
  readonly write: (frame: Partial<CimFrame>) => boolean;
  readonly userId: () => number;
  /** Longest a handled seq waits before it is acknowledged. */
  readonly delayMs: number;
  /** Acknowledge at once when this many seqs wait. */
  readonly batchSize: number;
}

/**
 * DELIVERED acknowledgements, batched: a seq is added only after the 'message' listeners ran, and sent
 * at most `delayMs` later or as soon as `batchSize` seqs wait. Acknowledging twice is harmless (the
 * server's ack removes what is still there), so unsent seqs simply wait for the next connection.
 */
export class DeliveryAcks {
  readonly #options: DeliveryAcksOptions;
  readonly #waiting = new Set<number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: DeliveryAcksOptions) {
    this.#options = options;
  }

  get waiting(): number {
    return this.#waiting.size;
  }

  add(seq: number): void {
    this.#waiting.add(seq);
    if (this.#waiting.size >= this.#options.batchSize) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), this.#options.delayMs);
  }

  /** Sends every waiting seq now; true when nothing is left waiting. */
  flush(): boolean {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#waiting.size === 0) return true;
    const frame: Partial<CimFrame> = {
      cmd: Command.RECEIPT,
      requestId: this.#options.userId(),
      properties: { [Prop.status]: ReceiptStatus.delivered },
      batchReqMsg: encodeSeqRanges(this.#waiting),
    };
    if (!this.#options.write(frame)) return false;
    this.#waiting.clear();
    return true;
  }

  /** Stops the timer; what waits is dropped (the server pushes it again at the next login). */
  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#waiting.clear();
  }
}
