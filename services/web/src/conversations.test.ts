/** The web client's model alone: routing of received messages, unread counts, marks that only move forward. */
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../client/src/sdk/client.ts';
import { Conversations, GROUP, MAX_LINES, userKey } from './conversations.ts';

const msg = (from: number, text: string, chatType: 'private' | 'group' = 'private'): ChatMessage => ({
  msgId: `${from}-${text}`, from: { userId: from, userName: `u${from}` }, to: 1, text, chatType, seq: undefined,
  sentAt: 1000, receivedAt: 2000, replay: false, offline: false,
});

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
});
