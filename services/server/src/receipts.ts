/**
 * RECEIPT and SYNC from protocol-2 clients. RECEIPT delivered: the named seqs leave the user's inbox
 * and their senders get DELIVERED receipts; RECEIPT read: forwarded to the sender. Receipts are best
 * effort and live (docs/delivery.md). SYNC: the pending inbox is pushed again. Malformed ones are
 * logged and ignored: they never close a connection nor throw.
 */
import { Prop, ReceiptStatus, type CimFrame } from '../../common/src/codec.ts';
import { MSG_ID_PATTERN } from '../../common/src/message-router.ts';
import { parseSeqRanges } from '../../common/src/seq-ranges.ts';
import type { ServerNodeOptions } from './context.ts';
import type { InboxReplayer } from './replay.ts';
import type { Session } from './session.ts';

/** Most msgIds one READ receipt may carry. */
export const MAX_READ_IDS = 1000;

export class ReceiptHandler {
  readonly #o: ServerNodeOptions;
  readonly #replayer: InboxReplayer;

  constructor(options: ServerNodeOptions, replayer: InboxReplayer) {
    this.#o = options;
    this.#replayer = replayer;
  }

  async receipt(session: Session, frame: CimFrame): Promise<void> {
    if (session.status !== 'ready' || !session.speaksExtensions) return;
    const status = frame.properties[Prop.status];
    if (status === ReceiptStatus.delivered) return this.#delivered(session, frame);
    if (status === ReceiptStatus.read) return this.#read(session, frame);
    this.#ignore(session, `unknown receipt status ${JSON.stringify(status?.slice(0, 20))}`);
  }

  async #delivered(session: Session, frame: CimFrame): Promise<void> {
    const seqs = parseSeqRanges(frame.batchReqMsg);
    if (!seqs) return this.#ignore(session, 'malformed seq ranges');
    if (seqs.length === 0) return;
    const removed = await this.#o.inbox.ack(session.userId, seqs, session.inboxDevice);
    const bySender = new Map<number, string[]>();
    for (const e of removed) {
      if (e.chatType !== 'private' || e.carbonTo !== undefined) continue;
      const ids = bySender.get(e.from.userId) ?? [];
      ids.push(e.msgId);
      bySender.set(e.from.userId, ids);
    }
    await Promise.all([...bySender].map(([sender, ids]) => this.#o.router.sendReceipt(sender, ReceiptStatus.delivered, session.userId, ids)));
  }

  async #read(session: Session, frame: CimFrame): Promise<void> {
    const sender = frame.properties[Prop.receiveUserId] ?? '';
    if (!/^\d{1,16}$/.test(sender) || !Number.isSafeInteger(Number(sender)) || Number(sender) <= 0) return this.#ignore(session, 'read receipt needs receiveUserId = the sender');
    const ids = frame.batchReqMsg;
    if (ids.length === 0 || ids.length > MAX_READ_IDS || !ids.every((id) => MSG_ID_PATTERN.test(id))) return this.#ignore(session, 'read receipt needs 1..1000 msgIds');
    await Promise.all([
      this.#o.router.sendReceipt(Number(sender), ReceiptStatus.read, session.userId, ids),
      // What one device read shows as read on the user's others (--login-policy multi).
      session.device !== undefined ? this.#o.router.sendReceipt(session.userId, ReceiptStatus.read, session.userId, ids, { sender: Number(sender), exceptDevice: session.device }) : undefined,
    ]);
  }

  async sync(session: Session, frame: CimFrame): Promise<void> {
    if (session.status !== 'ready') return;
    const raw = frame.properties[Prop.afterSeq] ?? '0';
    if (!/^\d{1,15}$/.test(raw)) return this.#ignore(session, 'afterSeq must be a number');
    await this.#replayer.replay(session, Number(raw));
  }

  #ignore(session: Session, why: string): void {
    this.#o.log.debug({ userId: session.userId, why }, 'ignoring a malformed frame');
  }
}
