/**
 * Pushes a user's pending inbox to its session (at login and on SYNC), paging through the inbox.
 * Protocol-2 sessions get single MESSAGE frames, each with its own ids, seq and replay = "1"; they
 * acknowledge with RECEIPT. CIM-protocol sessions cannot acknowledge: they get CIM's OFFLINE batches
 * (one per run of one sender) and the server removes the entries once the write succeeded.
 */
import { Command, Prop, type CimFrame } from '../../common/src/codec.ts';
import type { InboxEntry } from '../../common/src/inbox/types.ts';
import { inboxEntryProperties } from '../../common/src/message-props.ts';
import type { ServerNodeOptions } from './context.ts';
import type { Session } from './session.ts';

export const REPLAY_PAGE = 100;

export class InboxReplayer {
  readonly #o: ServerNodeOptions;

  constructor(options: ServerNodeOptions) {
    this.#o = options;
  }

  /** Pushes entries with seq > afterSeq; stops at the first write that fails. Returns how many were written. */
  async replay(session: Session, afterSeq = 0): Promise<number> {
    const userId = session.userId;
    let after = afterSeq;
    let written = 0;
    for (;;) {
      if (session.status !== 'ready') return written;
      const page = await this.#o.inbox.pending(userId, after, REPLAY_PAGE, session.inboxDevice);
      if (page.length === 0) return written;
      const n = session.speaksExtensions ? this.#writeSingles(session, page) : await this.#writeCimBatches(session, page);
      written += n;
      if (n < page.length || page.length < REPLAY_PAGE) return written;
      after = page.at(-1)!.seq;
    }
  }

  #writeSingles(session: Session, page: readonly InboxEntry[]): number {
    let n = 0;
    for (const entry of page) {
      const frame: Partial<CimFrame> = {
        requestId: session.userId,
        cmd: Command.MESSAGE,
        reqMsg: entry.text,
        properties: { ...inboxEntryProperties(entry), [Prop.receiveUserId]: String(session.userId), [Prop.replay]: '1' },
      };
      if (!session.write(frame)) return n;
      this.#o.metrics.messagesOut.inc({ cmd: 'MESSAGE' });
      n++;
    }
    return n;
  }

  async #writeCimBatches(session: Session, page: readonly InboxEntry[]): Promise<number> {
    let n = 0;
    // CIM's clients cannot tell a carbon copy of their user's own send from a message: it leaves unshown.
    const carbons = page.filter((e) => e.carbonTo !== undefined).map((e) => e.seq);
    if (carbons.length > 0) {
      await this.#o.inbox.ack(session.userId, carbons, session.inboxDevice);
      n += carbons.length;
    }
    for (const all of runsBySender(page.filter((e) => e.carbonTo === undefined))) {
      // Entries a live push already wrote to this session are not written again (it acked them).
      const run = all.filter((e) => !session.wroteStored(e.seq));
      n += all.length - run.length;
      if (run.length === 0) continue;
      const first = run[0]!;
      // A batch carries no msgId/sentAt/seq: they differ per message and CIM's client does not read them.
      const frame: Partial<CimFrame> = {
        requestId: session.userId,
        cmd: Command.OFFLINE,
        batchReqMsg: run.map((e) => e.text),
        properties: {
          [Prop.sendUserId]: String(first.from.userId),
          [Prop.sendUserName]: first.from.userName,
          [Prop.receiveUserId]: String(session.userId),
          [Prop.chatType]: first.chatType,
        },
      };
      if (!session.write(frame)) return n;
      for (const e of run) session.noteStoredWrite(e.seq);
      this.#o.metrics.messagesOut.inc({ cmd: 'OFFLINE' });
      await this.#o.inbox.ack(session.userId, run.map((e) => e.seq), session.inboxDevice);
      n += run.length;
    }
    return n;
  }

  /** A live private message was written to a CIM-protocol session: it cannot ack, so the server does. */
  ackForCimClient(userId: number, seq: number, device: string): void {
    this.#o.inbox.ack(userId, [seq], device).catch((err: unknown) => this.#o.log.warn({ err, userId, seq }, 'inbox ack for a CIM client failed; it may be replayed'));
  }
}

/** Consecutive entries of one sender, in seq order. */
function runsBySender(entries: readonly InboxEntry[]): InboxEntry[][] {
  const runs: InboxEntry[][] = [];
  for (const e of entries) {
    const last = runs.at(-1);
    if (last && last[0]!.from.userId === e.from.userId) last.push(e);
    else runs.push([e]);
  }
  return runs;
}
