import { describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../common/src/log.ts';
import { Inbox } from './inbox.ts';
import { MemorySeenStore } from './seen-store.ts';
import { Command, Prop, type CimFrame } from '../../../common/src/codec.ts';
import type { ChatMessage } from './events.ts';
import { DeliveryAcks, encodeSeqRanges, parseReceipt, readReceiptFrames } from './receipts.ts';

const frame = (f: Partial<CimFrame>): CimFrame => ({ requestId: 0, reqMsg: '', cmd: Command.RECEIPT, properties: {}, batchReqMsg: [], ...f });

describe('RECEIPT frames', () => {
  it('encodes seqs as ranges, in order, without duplicates', () => {
    expect(encodeSeqRanges([12, 5, 6, 7, 9, 6])).toEqual(['5-7', '9', '12']);
    expect(encodeSeqRanges([])).toEqual([]);
    expect(encodeSeqRanges([1])).toEqual(['1']);
  });

  it('reads the receipts a server pushes, and nothing from a malformed one', () => {
    const ok = frame({ properties: { [Prop.status]: 'read', [Prop.receiveUserId]: '42' }, batchReqMsg: ['a', 'b', ''] });
    expect(parseReceipt(ok)).toEqual([
      { msgId: 'a', to: 42, status: 'read' },
      { msgId: 'b', to: 42, status: 'read' },
    ]);
    expect(parseReceipt(frame({ properties: { [Prop.status]: 'seen', [Prop.receiveUserId]: '42' }, batchReqMsg: ['a'] }))).toEqual([]);
    expect(parseReceipt(frame({ properties: { [Prop.status]: 'delivered', [Prop.receiveUserId]: 'x' }, batchReqMsg: ['a'] }))).toEqual([]);
  });

  it('builds one READ frame per sender, private messages with an id only', () => {
    const m = (from: number, msgId: string | undefined, chatType: 'private' | 'group' = 'private'): ChatMessage => ({
      msgId, from: { userId: from, userName: '' }, to: 1, text: 't', chatType, seq: 1, sentAt: undefined, receivedAt: 0, replay: false, offline: false,
    });
    const frames = readReceiptFrames([m(7, 'a'), m(8, 'b'), m(7, 'c'), m(7, 'a'), m(9, undefined), m(9, 'g', 'group')], 1);
    expect(frames).toEqual([
      { cmd: Command.RECEIPT, requestId: 1, properties: { [Prop.status]: 'read', [Prop.receiveUserId]: '7' }, batchReqMsg: ['a', 'c'] },
      { cmd: Command.RECEIPT, requestId: 1, properties: { [Prop.status]: 'read', [Prop.receiveUserId]: '8' }, batchReqMsg: ['b'] },
    ]);
  });
});

describe('DeliveryAcks', () => {
  it('sends at once when the batch is full, else after the delay; keeps seqs no connection took', async () => {
    const written: string[][] = [];
    let open = true;
    const acks = new DeliveryAcks({ write: (f) => open && (written.push(f.batchReqMsg!), true), userId: () => 1, delayMs: 10, batchSize: 3 });
    acks.add(1);
    acks.add(2);
    expect(written).toEqual([]);
    acks.add(3);
    expect(written).toEqual([['1-3']]);
    acks.add(5);
    await expect.poll(() => written).toEqual([['1-3'], ['5']]);
    open = false;
    acks.add(6);
    expect(acks.flush()).toBe(false);
    expect(acks.waiting).toBe(1);
    open = true;
    expect(acks.flush()).toBe(true);
    expect(written.at(-1)).toEqual(['6']);
    acks.add(7);
    acks.stop();
    expect(acks.waiting).toBe(0);
  });
});

describe('Inbox periodic SYNC', () => {
  it('asks for the whole pending inbox every syncIntervalMs while logged in, and stops when stopped', () => {
    vi.useFakeTimers();
    try {
      const frames: Array<Record<string, unknown>> = [];
      const inbox = new Inbox({
        seenStore: new MemorySeenStore(),
        acks: { add: () => undefined } as never,
        gapTimeoutMs: 1_000,
        syncIntervalMs: 5_000,
        logger: silentLogger,
        userId: () => 7,
        emit: () => undefined,
        write: (f) => (frames.push(f as Record<string, unknown>), true),
      });
      inbox.onLogin(12);
      vi.advanceTimersByTime(4_999);
      expect(frames).toHaveLength(0);
      vi.advanceTimersByTime(1);
      expect(frames).toEqual([{ cmd: Command.SYNC, requestId: 7, properties: { afterSeq: '0' } }]);
      vi.advanceTimersByTime(5_000);
      expect(frames).toHaveLength(2);
      inbox.stop();
      vi.advanceTimersByTime(20_000);
      expect(frames).toHaveLength(2);
      // CIM's protocol (no maxSeq at login) has no SYNC.
      inbox.onLogin(undefined);
      vi.advanceTimersByTime(20_000);
      expect(frames).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
