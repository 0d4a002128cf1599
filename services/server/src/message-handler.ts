/**
 * In-band MESSAGE frames. Every one gets exactly one MESSAGE_ACK, whatever fails: 9000 SENT (stored in
 * the receiver's inbox, with seq and online) or a catalogue code with retryable and reason. Private
 * messages are stored before SENT and pushed live after it; "everyone online" group messages are live only;
 * a named group's (property groupId) are stored in every other member's inbox before SENT.
 */
import { Codes, type WireCode } from '../../common/src/codes.ts';
import { Command, Prop, type CimFrame } from '../../common/src/codec.ts';
import { DEFAULT_MAX_MESSAGE_BYTES, messageTooLarge } from '../../common/src/message-size.ts';
import { DeliveryError, MSG_ID_PATTERN } from '../../common/src/message-router.ts';
import { attachmentOf } from '../../common/src/files/attachment.ts';
import { closeSession, type ServerNodeOptions } from './context.ts';
import type { Session } from './session.ts';

/** A client's msgId is echoed only up to a valid id's length: an ack must stay small whatever it answers. */
const echoable = (msgId: string): string => (msgId.length <= 64 ? msgId : '');

export class MessageHandler {
  readonly #o: ServerNodeOptions;

  constructor(options: ServerNodeOptions) {
    this.#o = options;
  }

  async handle(session: Session, frame: CimFrame): Promise<void> {
    const msgId = frame.properties[Prop.msgId] ?? '';
    let acked = false;
    const ack = (code: WireCode, extra: Record<string, string> = {}, reason: string = code.message) => {
      acked = true;
      const failure: Record<string, string> = code.code !== Codes.SUCCESS.code ? { [Prop.retryable]: code.retryable ? '1' : '0', [Prop.reason]: reason } : {};
      session.write({ cmd: Command.MESSAGE_ACK, requestId: session.userId, properties: { [Prop.msgId]: echoable(msgId), [Prop.code]: code.code, ...failure, ...extra } });
    };
    try {
      await this.#handle(session, frame, msgId, ack);
    } catch (err) {
      this.#o.log.error({ err, userId: session.userId, msgId }, 'in-band message failed');
      if (!acked) ack(err instanceof DeliveryError ? err.wire : Codes.FAIL, {}, err instanceof DeliveryError ? err.wire.message : 'internal error, please retry');
    }
  }

  /** Answers a MESSAGE whose handling failed before it reached this handler (the per-session queue). */
  answerFailure(session: Session, frame: CimFrame): void {
    this.#refuse(session, frame, Codes.FAIL, 'internal error, please retry');
  }

  /** Answers a MESSAGE refused by the connection's rate limit (never queued, never handled). */
  refuseRateLimited(session: Session, frame: CimFrame): void {
    this.#refuse(session, frame, Codes.RATE_LIMITED, `more than ${this.#o.rateLimit?.maxMsgRate ?? 0} messages per second; slow down and retry`);
  }

  #refuse(session: Session, frame: CimFrame, code: WireCode, reason: string): void {
    const msgId = echoable(frame.properties[Prop.msgId] ?? '');
    session.write({
      cmd: Command.MESSAGE_ACK,
      requestId: session.userId,
      properties: { [Prop.msgId]: msgId, [Prop.code]: code.code, [Prop.retryable]: code.retryable ? '1' : '0', [Prop.reason]: reason },
    });
  }

  async #handle(session: Session, frame: CimFrame, msgId: string, ack: (code: WireCode, extra?: Record<string, string>, reason?: string) => void): Promise<void> {
    if (session.status !== 'ready') {
      ack(Codes.VALIDATION_FAIL, {}, 'log in first');
      return closeSession(this.#o.log, session, 'bad-frame', 'MESSAGE before LOGIN_REQUEST');
    }
    if (msgId !== '' && !MSG_ID_PATTERN.test(msgId)) return ack(Codes.VALIDATION_FAIL, {}, 'msgId must match [A-Za-z0-9_-]{1,64}');
    if (frame.batchReqMsg.length > 0) return ack(Codes.VALIDATION_FAIL, {}, 'one text per MESSAGE (reqMsg); batches are not accepted in-band');
    if (frame.reqMsg === '') return ack(Codes.VALIDATION_FAIL, {}, 'empty message');
    const tooLarge = messageTooLarge(frame.reqMsg, this.#o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
    if (tooLarge) return ack(Codes.VALIDATION_FAIL, {}, tooLarge);
    // device: --login-policy multi only; the user's other devices get carbon copies.
    const from = { userId: session.userId, userName: session.userName, device: session.device };
    const message = { text: frame.reqMsg, msgId: msgId === '' ? undefined : msgId };
    // A file message's attachment (docs/delivery.md "File messages"): private messages only.
    const attachment = attachmentOf(frame.properties);
    if (attachment === 'invalid') return ack(Codes.VALIDATION_FAIL, {}, 'fileId, fileName, fileSize, fileType and fileToken must all be present and sound');
    const group = frame.properties[Prop.groupId];
    const receiver = frame.properties[Prop.receiveUserId];
    if (attachment && (receiver === undefined || receiver === '' || (group !== undefined && group !== ''))) return ack(Codes.VALIDATION_FAIL, {}, 'files go in private messages only');
    if (group !== undefined && group !== '') return this.#toGroup(session, from, group, message, ack);
    if (receiver === undefined || receiver === '') {
      await this.#o.router.sendGroup(from, message);
      return ack(Codes.SUCCESS);
    }
    if (!/^\d{1,16}$/.test(receiver) || !Number.isSafeInteger(Number(receiver)) || Number(receiver) <= 0) {
      return ack(Codes.VALIDATION_FAIL, {}, 'receiveUserId must be a user id');
    }
    let sent;
    try {
      sent = await this.#o.router.sendPrivate(from, Number(receiver), attachment ? { ...message, attachment } : message);
    } catch (err) {
      if (!(err instanceof DeliveryError)) throw err;
      if (err.wire.retryable) this.#o.log.warn({ err, userId: session.userId, msgId }, 'message not stored; the sender may retry');
      return ack(err.wire);
    }
    ack(Codes.SUCCESS, { [Prop.msgId]: sent.msgId, [Prop.seq]: String(sent.seq), [Prop.online]: sent.online ? '1' : '0' });
    // SENT is promised; the live push only makes it faster (it waits in the inbox otherwise). Not awaited:
    // the next message of this sender need not wait for this one's HTTP round trip. Per-sender order holds
    // because push() enqueues synchronously here, in queue order, and the transport keeps FIFO per server.
    void sent.push();
  }

  /** A named group's message (property groupId): SENT once it is in every other member's inbox, then pushed. */
  async #toGroup(session: Session, from: { userId: number; userName: string }, group: string, message: { text: string; msgId: string | undefined }, ack: (code: WireCode, extra?: Record<string, string>, reason?: string) => void): Promise<void> {
    if (!/^\d{1,16}$/.test(group) || !Number.isSafeInteger(Number(group)) || Number(group) <= 0) return ack(Codes.VALIDATION_FAIL, {}, 'groupId must be a group id');
    let sent;
    try {
      sent = await this.#o.router.sendToGroup(from, Number(group), message);
    } catch (err) {
      if (!(err instanceof DeliveryError)) throw err;
      if (err.wire.retryable) this.#o.log.warn({ err, userId: session.userId, groupId: group }, 'group message not stored; the sender may retry');
      return ack(err.wire);
    }
    ack(Codes.SUCCESS, { [Prop.msgId]: sent.msgId, [Prop.groupId]: group, [Prop.gseq]: String(sent.gseq) });
    void sent.push();
  }
}
