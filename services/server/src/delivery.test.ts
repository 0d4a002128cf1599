/**
 * The acknowledged message path on the server core (docs/delivery.md): replay, RECEIPT/SYNC, receipts
 * to senders, CIM-protocol receivers, and exactly one MESSAGE_ACK per MESSAGE whatever fails.
 * Memory stores, fake transports; every message is counted.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { Command } from '../../common/src/codec.ts';
import type { InboxStore } from '../../common/src/inbox/types.ts';
import { buildFixture, type Fixture } from './node-fixture.ts';
import { REPLAY_PAGE } from './replay.ts';

let f: Fixture;
const limits = { maxEntries: 1000, ttlMs: 60_000 };
const store = (userId: number, n: number, from = { userId: 9, userName: 'x' }) =>
  Promise.all(Array.from({ length: n }, (_, i) => f.inbox.append(userId, { msgId: `m${i + 1}`, from, text: `t${i + 1}`, sentAt: 1000 + i, chatType: 'private' }, limits)));

beforeEach(async () => {
  f = await buildFixture({ maxQueueBytes: 1 << 30 });
});

describe('replay and acknowledgement', () => {
  it('pages through a long inbox at login: every entry once, in seq order, with its own ids', async () => {
    const { userId } = await f.store.registerAccount('r');
    const total = REPLAY_PAGE * 2 + 37;
    for (let i = 0; i < total; i++) await f.inbox.append(userId, { msgId: `m${i + 1}`, from: { userId: 9, userName: 'x' }, text: `t${i + 1}`, sentAt: 1000 + i, chatType: 'private' }, limits);
    const r = await f.connect('r');
    const got = r.transport.of(Command.MESSAGE);
    expect(got).toHaveLength(total);
    expect(got.map((x) => x.properties['seq'])).toEqual(Array.from({ length: total }, (_, i) => String(i + 1)));
    expect(got.map((x) => x.properties['msgId'])).toEqual(Array.from({ length: total }, (_, i) => `m${i + 1}`));
    expect(got.map((x) => x.properties['sentAt'])).toEqual(Array.from({ length: total }, (_, i) => String(1000 + i)));
    expect(got.every((x) => x.properties['replay'] === '1')).toBe(true);
  });

  it('keeps everything when the receiver dies right after login, and replays it at the next login', async () => {
    const { userId } = await f.store.registerAccount('fragile');
    await store(userId, 5);
    const first = await f.connect('fragile');
    expect(first.transport.of(Command.MESSAGE)).toHaveLength(5);
    f.node.closed(first.session); // died before acknowledging
    const second = await f.connect('fragile');
    expect(second.transport.of(Command.MESSAGE).map((x) => x.properties['msgId'])).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
  });

  it('removes acknowledged seqs and sends DELIVERED receipts to the online sender', async () => {
    const sender = await f.connect('sender');
    const receiver = await f.connect('receiver');
    for (let i = 1; i <= 4; i++) await f.send(sender.session, { cmd: Command.MESSAGE, reqMsg: `hi${i}`, properties: { msgId: `s${i}`, receiveUserId: String(receiver.userId) } });
    expect(receiver.transport.of(Command.MESSAGE).map((x) => x.properties['seq'])).toEqual(['1', '2', '3', '4']);
    await f.send(receiver.session, { cmd: Command.RECEIPT, properties: { status: 'delivered' }, batchReqMsg: ['1-2', '4'] });
    expect((await f.inbox.pending(receiver.userId, 0, 10)).map((e) => e.seq)).toEqual([3]);
    const receipts = sender.transport.of(Command.RECEIPT);
    expect(receipts).toEqual([{ requestId: sender.userId, reqMsg: '', cmd: Command.RECEIPT, properties: { status: 'delivered', receiveUserId: String(receiver.userId) }, batchReqMsg: ['s1', 's2', 's4'] }]);
    // A second ack of the same seqs removes nothing and sends no second receipt.
    await f.send(receiver.session, { cmd: Command.RECEIPT, properties: { status: 'delivered' }, batchReqMsg: ['1-2'] });
    expect(sender.transport.of(Command.RECEIPT)).toHaveLength(1);
  });

  it('forwards READ receipts to the sender', async () => {
    const sender = await f.connect('sender');
    const reader = await f.connect('reader');
    await f.send(reader.session, { cmd: Command.RECEIPT, properties: { status: 'read', receiveUserId: String(sender.userId) }, batchReqMsg: ['s1', 's2'] });
    expect(sender.transport.of(Command.RECEIPT).map((x) => [x.properties, x.batchReqMsg])).toEqual([[{ status: 'read', receiveUserId: String(reader.userId) }, ['s1', 's2']]]);
  });

  it('ignores malformed receipts without closing the connection or touching the inbox', async () => {
    const r = await f.connect('r');
    await store(r.userId, 3);
    const malformed: { properties: Record<string, string>; batchReqMsg: string[] }[] = [
      { properties: { status: 'delivered' }, batchReqMsg: ['3-1'] },
      { properties: { status: 'delivered' }, batchReqMsg: ['1-999999999'] },
      { properties: { status: 'nope' }, batchReqMsg: ['1'] },
      { properties: { status: 'read', receiveUserId: 'x' }, batchReqMsg: ['a'] },
      { properties: { status: 'read', receiveUserId: '5' }, batchReqMsg: ['bad id!'] },
    ];
    for (const frame of malformed) await f.send(r.session, { cmd: Command.RECEIPT, ...frame });
    expect(r.transport.closedWith).toBeUndefined();
    expect((await f.inbox.pending(r.userId, 0, 10)).map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it('pushes the pending inbox again on SYNC, after afterSeq', async () => {
    const r = await f.connect('r');
    await store(r.userId, 4);
    await f.send(r.session, { cmd: Command.SYNC, properties: { afterSeq: '2' } });
    expect(r.transport.of(Command.MESSAGE).map((x) => x.properties['seq'])).toEqual(['3', '4']);
    await f.send(r.session, { cmd: Command.SYNC });
    expect(r.transport.of(Command.MESSAGE).map((x) => x.properties['seq'])).toEqual(['3', '4', '1', '2', '3', '4']);
  });
});

describe('CIM-protocol receivers (cannot acknowledge)', () => {
  it('get OFFLINE batches per run of one sender, without per-message ids, removed once written', async () => {
    const { userId } = await f.store.registerAccount('cim');
    await store(userId, 2, { userId: 7, userName: 'seven' });
    await store(userId, 1, { userId: 8, userName: 'eight' });
    const cim = await f.connect('cim', {}, 'tcp');
    expect(cim.transport.frames.map((x) => [x.cmd, x.batchReqMsg, x.properties])).toEqual([
      [Command.OFFLINE, ['t1', 't2'], { sendUserId: '7', sendUserName: 'seven', receiveUserId: String(userId), chatType: 'private' }],
      [Command.OFFLINE, ['t1'], { sendUserId: '8', sendUserName: 'eight', receiveUserId: String(userId), chatType: 'private' }],
    ]);
    expect(await f.inbox.pending(userId, 0, 10)).toEqual([]);
  });

  it('keep what could not be written', async () => {
    const { userId } = await f.store.registerAccount('cim');
    await store(userId, 3);
    const cim = await f.connect('cim', {}, 'tcp');
    expect(cim.transport.of(Command.OFFLINE)).toHaveLength(1);
    await store(userId, 2, { userId: 11, userName: 'late' });
    cim.transport.writable = false; // the socket died: writes fail
    f.node.handlePush({ receivers: [userId], msg: 'lost?', properties: { seq: '4' } });
    expect((await f.inbox.pending(userId, 0, 10)).map((e) => e.seq)).toEqual([4, 5]);
  });

  it('have live private messages removed from the inbox once written', async () => {
    const a = await f.connect('a');
    const cim = await f.connect('cim', {}, 'tcp');
    await f.send(a.session, { cmd: Command.MESSAGE, reqMsg: 'live', properties: { msgId: 'l1', receiveUserId: String(cim.userId) } });
    expect(cim.transport.of(Command.MESSAGE).map((x) => x.reqMsg)).toEqual(['live']);
    expect(await f.inbox.pending(cim.userId, 0, 10)).toEqual([]);
  });
});

describe('one MESSAGE_ACK per MESSAGE, whatever fails', () => {
  it('answers 7200 retryable when the inbox is down, pushes nothing, and SENT once it is back', async () => {
    const a = await f.connect('a');
    const b = await f.connect('b');
    const working = f.inbox;
    f.inbox = { ...working, append: async () => Promise.reject(new Error('redis down')) } as InboxStore;
    for (let i = 0; i < 5; i++) await f.send(a.session, { cmd: Command.MESSAGE, reqMsg: 'x', properties: { msgId: `r${i}`, receiveUserId: String(b.userId) } });
    expect(a.transport.of(Command.MESSAGE_ACK).map((x) => x.properties)).toEqual(
      Array.from({ length: 5 }, (_, i) => ({ msgId: `r${i}`, code: '7200', retryable: '1', reason: 'Message store unavailable, please retry' })),
    );
    expect(b.transport.of(Command.MESSAGE)).toHaveLength(0);
    f.inbox = working;
    await f.send(a.session, { cmd: Command.MESSAGE, reqMsg: 'x', properties: { msgId: 'r0', receiveUserId: String(b.userId) } });
    expect(a.transport.of(Command.MESSAGE_ACK)).toHaveLength(6);
    expect(a.transport.of(Command.MESSAGE_ACK)[5]!.properties).toEqual({ msgId: 'r0', code: '9000', seq: '1', online: '1' });
    expect(b.transport.of(Command.MESSAGE)).toHaveLength(1);
  });

  it('answers 4000 retryable on an unexpected failure, once per message', async () => {
    const a = await f.connect('a');
    const b = await f.connect('b');
    f.inbox = { ...f.inbox, append: async () => undefined } as unknown as InboxStore; // a broken backend
    for (let i = 0; i < 3; i++) await f.send(a.session, { cmd: Command.MESSAGE, reqMsg: 'x', properties: { msgId: `u${i}`, receiveUserId: String(b.userId) } });
    expect(a.transport.of(Command.MESSAGE_ACK).map((x) => [x.properties['msgId'], x.properties['code'], x.properties['retryable']])).toEqual([
      ['u0', '4000', '1'],
      ['u1', '4000', '1'],
      ['u2', '4000', '1'],
    ]);
  });

  it('stores once and answers SENT when the live push to another server fails after the fact', async () => {
    const a = await f.connect('a');
    const { userId: far } = await f.store.registerAccount('far');
    await f.store.login(far, '10.0.0.9:11211:8081', 60_000);
    let pushed = 0;
    f.remote = { push: async () => (pushed++, Promise.reject(new Error('timed out (maybe delivered)'))) };
    await f.send(a.session, { cmd: Command.MESSAGE, reqMsg: 'once', properties: { msgId: 'o1', receiveUserId: String(far) } });
    expect(pushed).toBe(1);
    expect(a.transport.of(Command.MESSAGE_ACK).map((x) => x.properties)).toEqual([{ msgId: 'o1', code: '9000', seq: '1', online: '1' }]);
    expect((await f.inbox.pending(far, 0, 10)).map((e) => [e.seq, e.msgId])).toEqual([[1, 'o1']]);
  });

  it('stores a retried msgId once and answers it with the same seq', async () => {
    const a = await f.connect('a');
    const b = await f.connect('b');
    await f.send(a.session, { cmd: Command.MESSAGE, reqMsg: 'x', properties: { msgId: 'same', receiveUserId: String(b.userId) } });
    await f.send(a.session, { cmd: Command.MESSAGE, reqMsg: 'x', properties: { msgId: 'same', receiveUserId: String(b.userId) } });
    expect(a.transport.of(Command.MESSAGE_ACK).map((x) => x.properties['seq'])).toEqual(['1', '1']);
    expect(await f.inbox.pending(b.userId, 0, 10)).toHaveLength(1);
  });
});
