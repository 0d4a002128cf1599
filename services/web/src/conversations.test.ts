/** The web client's model alone: routing of received messages, unread counts, marks that only move forward. */
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../client/src/sdk/client.ts';
import { Conversations, GROUP, groupKey, MAX_LINES, userKey } from './conversations.ts';

const msg = (from: number, text: string, chatType: 'private' | 'group' = 'private'): ChatMessage => ({
  msgId: `${from}-${text}`, from: { userId: from, userName: `u${from}` }, to: 1, text, chatType, seq: undefined,
  sentAt: 1000, receivedAt: 2000, replay: false, offline: false,
});
/** A named-group message as the SDK hands it over: chatType group, with groupId and gseq. */
const gmsg = (groupId: number, from: number, gseq: number, text = `g${gseq}`): ChatMessage => ({ ...msg(from, text, 'group'), groupId, gseq, seq: gseq });
const texts = (c: Conversations, key: ReturnType<typeof groupKey>) => c.get(key)!.lines.map((l) => l.text);

describe('Conversations', () => {
  it('routes group and private messages, counts unread only out of view and returns what to mark read', () => {
    const c = new Conversations();
    const inGroup = (key: string) => key === GROUP;
    expect(c.receive(msg(2, 'g1', 'group'), inGroup).seen).toBe(true);
    for (const t of ['p1', 'p2', 'p3']) expect(c.receive(msg(2, t), inGroup).seen).toBe(false);
    c.receive(msg(3, 'other'), inGroup);
    expect(c.list().map((x) => [x.title, x.unread])).toEqual([['Everyone online', 0], ['u2', 3], ['u3', 1]]);
    expect(c.open(userKey(2)).map((m) => m.text)).toEqual(['p1', 'p2', 'p3']);
    expect(c.get(userKey(2))!.unread).toBe(0);
    expect(c.open(userKey(2))).toEqual([]);
    // A group message out of view counts, but there is nothing to mark read for it.
    c.receive(msg(3, 'g2', 'group'), () => false);
    expect(c.get(GROUP)!.unread).toBe(1);
    expect(c.open(GROUP)).toEqual([]);
  });

  it('moves marks forward only; failed always applies; unknown ids are ignored', () => {
    const c = new Conversations();
    const line = c.send(GROUP, 'm1', 'me', 'hi', 1);
    expect(line.mark).toBe('sending');
    expect(c.receipt({ msgId: 'm1', to: 2, status: 'read' })).toBe(true);
    expect(c.mark('m1', 'sent')).toBe(false); // a late SENT after READ
    expect(c.receipt({ msgId: 'm1', to: 2, status: 'delivered' })).toBe(false);
    expect(line.mark).toBe('read');
    expect(c.mark('nope', 'sent')).toBe(false);
    c.send(GROUP, 'm2', 'me', 'x', 2);
    expect(c.mark('m2', 'failed', 'QUEUE_FULL')).toBe(true);
    expect(c.get(GROUP)!.lines.map((l) => [l.mark, l.error])).toEqual([['read', undefined], ['failed', 'QUEUE_FULL']]);
  });

  it('keeps at most MAX_LINES lines per conversation', () => {
    const c = new Conversations();
    for (let i = 0; i < MAX_LINES + 10; i++) c.receive(msg(2, `t${i}`, 'group'), () => true);
    const lines = c.get(GROUP)!.lines;
    expect(lines).toHaveLength(MAX_LINES);
    expect(lines[0]!.text).toBe('t10');
  });

  it('merges the server history before the live lines: each message once, at its place, marks kept', () => {
    const c = new Conversations();
    const key = c.withUser(2, 'u2').key;
    c.receive(msg(2, 'live'), () => true); // msgId '2-live', also in the history
    const mineLine = c.send(key, 'mine-2', 'me', 'my second', 5);
    c.receipt({ msgId: 'mine-2', to: 2, status: 'read' });
    c.receive(msg(2, 'newer'), () => true); // not in the history yet
    const h = (seq: number, msgId: string, from: number, text: string) => ({ seq, msgId, from: { userId: from, userName: from === 1 ? 'me' : 'u2' }, to: from === 1 ? 2 : 1, text, sentAt: seq });
    c.mergeHistory(key, [h(1, 'old', 2, 'old one'), h(2, 'mine-1', 1, 'my first'), h(3, '2-live', 2, 'live'), h(4, 'mine-2', 1, 'my second')], 1);
    const lines = c.get(key)!.lines;
    expect(lines.map((l) => [l.text, l.mine, l.mark])).toEqual([
      ['old one', false, undefined], ['my first', true, 'sent'], ['live', false, undefined], ['my second', true, 'read'], ['newer', false, undefined],
    ]);
    expect(lines[3]).toBe(mineLine);
    c.mergeHistory(key, [h(1, 'old', 2, 'old one')], 1); // again: nothing twice
    expect(c.get(key)!.lines).toHaveLength(5);
  });

  it('lists everyone online, then named groups, then users; routes named-group messages by groupId with unread counts', () => {
    const c = new Conversations();
    c.withUser(2, 'alice');
    c.withGroup(8, 'zeta');
    c.withGroup(7, 'alpha');
    c.withUser(3, 'Bob');
    expect(c.list().map((x) => [x.key, x.title])).toEqual([[GROUP, 'Everyone online'], ['g:7', 'alpha'], ['g:8', 'zeta'], ['u:2', 'alice'], ['u:3', 'Bob']]);
    expect(c.get(groupKey(7))!.groupId).toBe(7);
    expect(c.get(groupKey(7))!.peerId).toBeUndefined();

    // Out of view: counted in its group, not in "everyone online" nor in the sender's private conversation; nothing to mark read.
    for (let g = 1; g <= 3; g++) expect(c.receive(gmsg(7, 2, g), () => false)).toMatchObject({ seen: false, added: true });
    expect(c.get(groupKey(7))!.unread).toBe(3);
    expect(c.get(GROUP)!.lines).toHaveLength(0);
    expect(c.get(userKey(2))!.lines).toHaveLength(0);
    expect(c.open(groupKey(7))).toEqual([]);
    expect(c.get(groupKey(7))!.unread).toBe(0);
    expect(c.receive(gmsg(7, 3, 4), (key) => key === c.active).seen).toBe(true);
    expect(texts(c, groupKey(7))).toEqual(['g1', 'g2', 'g3', 'g4']);

    // A group the page did not know yet (joined elsewhere): created with a placeholder title, renamed when known.
    c.receive(gmsg(9, 2, 1), () => false);
    expect(c.get(groupKey(9))!.title).toBe('Group 9');
    c.withGroup(9, 'newcomers');
    c.withGroup(9);
    expect(c.get(groupKey(9))!.title).toBe('newcomers');
    expect(c.get(groupKey(9))!.unread).toBe(1);
  });

  it('keeps a named group in gseq order, my sends included once their gseq is known', () => {
    const c = new Conversations();
    const key = c.withGroup(5, 'team').key;
    c.receive(gmsg(5, 2, 1), () => true);
    c.receive(gmsg(5, 2, 3), () => true);
    c.receive(gmsg(5, 3, 2), () => true); // late: goes before 3
    expect(texts(c, key)).toEqual(['g1', 'g2', 'g3']);
    // My send waits at the end until SENT; a message received meanwhile goes before it.
    c.send(key, 'm1', 'me', 'mine', 10);
    c.receive(gmsg(5, 2, 5), () => true);
    expect(texts(c, key)).toEqual(['g1', 'g2', 'g3', 'g5', 'mine']);
    // SENT says gseq 4: mine moves before g5, and is marked sent.
    expect(c.placeSent(key, 'm1', 4)).toBe(true);
    expect(c.mark('m1', 'sent')).toBe(true);
    expect(texts(c, key)).toEqual(['g1', 'g2', 'g3', 'mine', 'g5']);
    expect(c.get(key)!.lines.map((l) => l.gseq)).toEqual([1, 2, 3, 4, 5]);
    expect(c.placeSent(key, 'unknown', 9)).toBe(false);
    // The same message again (replayed after the history showed it) is not added twice nor counted.
    expect(c.receive(gmsg(5, 2, 5), () => false)).toMatchObject({ seen: true, added: false });
    expect(texts(c, key)).toHaveLength(5);
    expect(c.get(key)!.unread).toBe(0);
  });

  it('merges a named group history (gseq order, mine marked sent) before the live lines, each message once', () => {
    const c = new Conversations();
    const key = c.withGroup(4, 'team').key;
    c.receive(gmsg(4, 2, 3, 'live'), () => true); // also in the history
    c.receive(gmsg(4, 3, 5, 'newer'), () => true); // not in the history yet
    const h = (seq: number, msgId: string, from: number, text: string) => ({ seq, msgId, from: { userId: from, userName: `u${from}` }, to: 4, text, sentAt: seq });
    c.mergeHistory(key, [h(1, 'a', 2, 'first'), h(2, 'mine-1', 1, 'my first'), h(3, '2-live', 2, 'live'), h(4, 'b', 3, 'fourth')], 1);
    expect(c.get(key)!.lines.map((l) => [l.text, l.mine, l.mark])).toEqual([
      ['first', false, undefined], ['my first', true, 'sent'], ['live', false, undefined], ['fourth', false, undefined], ['newer', false, undefined],
    ]);
    // A live message after the merge goes at the end; a replay of one the history showed is dropped.
    c.receive(gmsg(4, 2, 6, 'latest'), () => true);
    expect(c.receive({ ...gmsg(4, 2, 1, 'first'), msgId: 'a' }, () => false).added).toBe(false);
    expect(texts(c, key)).toEqual(['first', 'my first', 'live', 'fourth', 'newer', 'latest']);
    c.mergeHistory(key, [h(1, 'a', 2, 'first')], 1); // again: nothing twice
    expect(texts(c, key)).toHaveLength(6);
  });
});

describe('Conversations with several devices', () => {
  it('files a carbon copy as this user\'s own line in its conversation, never unread, once; a read elsewhere clears unread', () => {
    const c = new Conversations();
    c.receive(msg(2, 'hi from 2'), () => false);
    expect(c.get(userKey(2))!.unread).toBe(1);
    const carbon: ChatMessage = { ...msg(1, 'sent on my phone'), from: { userId: 1, userName: 'me' }, carbonTo: 2 };
    expect(c.receive(carbon, () => false)).toMatchObject({ seen: true, added: true });
    expect(c.receive(carbon, () => false).added).toBe(false);
    expect(c.get(userKey(2))!.lines.map((l) => [l.mine, l.text, l.mark ?? null])).toEqual([[false, 'hi from 2', null], [true, 'sent on my phone', 'sent']]);
    expect(c.get(userKey(2))!.unread).toBe(1);
    // A carbon to someone not yet in the list opens the conversation; a group carbon goes to its group.
    c.receive({ ...carbon, msgId: 'x', carbonTo: 7 }, () => false);
    expect(c.get(userKey(7))!.lines.map((l) => l.mine)).toEqual([true]);
    c.receive({ ...gmsg(5, 1, 3, 'to the group'), from: { userId: 1, userName: 'me' }, carbonTo: 5 }, () => false);
    expect(c.get(groupKey(5))!.lines.map((l) => [l.mine, l.text])).toEqual([[true, 'to the group']]);
    expect(c.get(groupKey(5))!.unread).toBe(0);
    // Read on the other device: the message is no longer unread here; unknown ids change nothing.
    expect(c.receipt({ msgId: '2-hi from 2', to: 1, status: 'read', sender: 2 })).toBe(true);
    expect(c.get(userKey(2))!.unread).toBe(0);
    expect(c.receipt({ msgId: '2-hi from 2', to: 1, status: 'read', sender: 2 })).toBe(false);
  });
});
