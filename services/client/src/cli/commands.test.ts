import { describe, expect, it } from 'vitest';
import { aiReply } from './ai.ts';
import { parseLine } from './commands.ts';
import { formatHistoryLine, historyFileName, userDirName } from './history.ts';
import { highlight } from './render.ts';

describe('parseLine', () => {
  it.each([
    ['', { kind: 'empty' }],
    ['   ', { kind: 'empty' }],
    [':q!', { kind: 'quit' }],
    ['  :q!  ', { kind: 'quit' }],
    [':olu', { kind: 'online' }],
    [':all', { kind: 'help' }],
    [':info', { kind: 'info' }],
    [':ai', { kind: 'aiOn' }],
    [':qai', { kind: 'aiOff' }],
    [':q hello world', { kind: 'search', keyword: 'hello world' }],
    [':pu al', { kind: 'prefix', prefix: 'al' }],
    [':emoji', { kind: 'emoji', page: 1 }],
    [':emoji 4', { kind: 'emoji', page: 4 }],
    [':delay 5 hello there world', { kind: 'delay', seconds: 5, message: { kind: 'group', text: 'hello there world' } }],
    [':delay 0.5 42;;hi', { kind: 'delay', seconds: 0.5, message: { kind: 'private', to: 42, text: 'hi' } }],
    [':delay 1 @bob hi', { kind: 'delay', seconds: 1, message: { kind: 'privateByName', userName: 'bob', text: 'hi' } }],
    // CIM's order (reference §8.3): MESSAGE SECONDS, last token numeric; a multi-word message too.
    [':delay hello 5', { kind: 'delay', seconds: 5, message: { kind: 'group', text: 'hello' } }],
    [':delay 1547028929407;;hi there 2', { kind: 'delay', seconds: 2, message: { kind: 'private', to: 1547028929407, text: 'hi there' } }],
    // Both orders parse: ours wins, with a note naming the other reading.
    [':delay 5 hi 10', { kind: 'delay', seconds: 5, message: { kind: 'group', text: 'hi 10' }, note: "read as :delay SECONDS MESSAGE (5 s); for CIM's order (MESSAGE SECONDS) write :delay 10 5 hi" }],
    [':x', { kind: 'help', unknown: ':x' }],
    [':q!now', { kind: 'help', unknown: ':q!now' }],
    ['hello', { kind: 'group', text: 'hello' }],
    ['1547028929407;;hi', { kind: 'private', to: 1547028929407, text: 'hi' }],
    ['12;;a;;b', { kind: 'private', to: 12, text: 'a;;b' }],
    ['@bob hi there', { kind: 'privateByName', userName: 'bob', text: 'hi there' }],
    ['@ not a mention', { kind: 'group', text: '@ not a mention' }],
    ['a sentence;; with separators', { kind: 'group', text: 'a sentence;; with separators' }],
    [':smile: hello', { kind: 'group', text: ':smile: hello' }],
    [':smile:', { kind: 'group', text: ':smile:' }],
  ])('%j', (line, expected) => {
    expect(parseLine(line)).toEqual(expected);
  });

  it.each([
    [':q', ':q KEYWORD'],
    [':pu', ':pu PREFIX'],
    [':pu a b', ':pu PREFIX'],
    [':emoji x', ':emoji [PAGE]'],
    [':emoji 0', ':emoji [PAGE]'],
    [':emoji 1 2', ':emoji [PAGE]'],
    [':delay', ':delay SECONDS MESSAGE…'],
    [':delay 5', ':delay SECONDS MESSAGE…'],
    [':delay x hi', ':delay SECONDS MESSAGE…'],
    [':delay 0 hi', ':delay SECONDS MESSAGE…'],
    [':delay 100000 hi', ':delay SECONDS MESSAGE…'],
    [':delay 1 :olu', 'only messages can be delayed'],
    [':delay :olu 1', 'only messages can be delayed'],
    [':delay hi 0', ':delay SECONDS MESSAGE…'],
    [':delay 1 abc;;hi', 'USERID;;TEXT'],
    ['abc;;hi', 'USERID;;TEXT'],
    ['12;;', 'USERID;;TEXT'],
    ['0;;hi', 'USERID;;TEXT'],
    ['99999999999999999999;;hi', 'USERID;;TEXT'],
    ['@bob', '@NAME TEXT'],
  ])('%j is a usage error', (line, usage) => {
    const action = parseLine(line);
    expect(action.kind).toBe('usage');
    expect(action.kind === 'usage' && action.message).toContain(usage);
  });
});

describe('aiReply', () => {
  it.each([
    ['你好吗？', '我好！'],
    ['在吗?', '在!'],
    ['are you ok?', 'I am ok!'],
    ['is this your cat?', 'is this my cat!'],
  ])('%s → %s', (input, output) => {
    expect(aiReply(input)).toBe(output);
  });
});

describe('history format', () => {
  it('zero-pads the day file name so dates never collide', () => {
    expect(historyFileName(new Date(2024, 0, 12))).toBe('20240112.log');
    expect(historyFileName(new Date(2024, 10, 2))).toBe('20241102.log');
  });

  it('writes one escaped line with timestamp, direction and peer', () => {
    const line = formatHistoryLine({ at: new Date(2026, 10, 22, 9, 5, 7, 42), direction: 'in', peer: 'bob(7)', text: 'a\tb\nc\\d' });
    expect(line).toMatch(/^2026-11-22T09:05:07\.042[+-]\d\d:\d\d\tin\tbob\(7\)\ta\\tb\\nc\\\\d$/);
  });

  it('keeps user names inside one directory', () => {
    expect(userDirName('alice')).toBe('alice');
    expect(userDirName('../etc')).toBe('..%2fetc');
    expect(userDirName('..')).toBe('%2e%2e');
  });
});

describe('highlight', () => {
  it('marks every case-insensitive match, and nothing without colour', () => {
    expect(highlight('Needle and needle', 'needle', true)).toBe('\u001b[31;4mNeedle\u001b[0m and \u001b[31;4mneedle\u001b[0m');
    expect(highlight('Needle', 'needle', false)).toBe('Needle');
  });
});

describe('named-group commands', () => {
  it('parses :groups, :create, :join, :leave, :members, :invite and #ID text', () => {
    expect(parseLine(':groups')).toEqual({ kind: 'group-command', command: { op: 'mine' } });
    expect(parseLine(':create the team')).toEqual({ kind: 'group-command', command: { op: 'create', name: 'the team' } });
    expect(parseLine(':join 7')).toEqual({ kind: 'group-command', command: { op: 'join', groupId: 7 } });
    expect(parseLine(':leave 7')).toEqual({ kind: 'group-command', command: { op: 'leave', groupId: 7 } });
    expect(parseLine(':members 7')).toEqual({ kind: 'group-command', command: { op: 'members', groupId: 7 } });
    expect(parseLine(':invite 7 42')).toEqual({ kind: 'group-command', command: { op: 'invite', groupId: 7, userId: 42 } });
    expect(parseLine('#7 hello all')).toEqual({ kind: 'toGroup', groupId: 7, text: 'hello all' });
    expect(parseLine(':delay 5 #7 later')).toMatchObject({ kind: 'delay', seconds: 5, message: { kind: 'toGroup', groupId: 7, text: 'later' } });
  });

  it('answers bad arguments with usage, and keeps other #-lines everyone-online messages', () => {
    for (const line of [':create', ':join', ':join x', ':join 0', ':leave 1 2', ':invite 7', ':invite 7 bob']) expect(parseLine(line).kind, line).toBe('usage');
    expect(parseLine('#hashtag fun')).toEqual({ kind: 'group', text: '#hashtag fun' });
    expect(parseLine('#7')).toEqual({ kind: 'group', text: '#7' });
  });
});

describe('contact commands', () => {
  it('parses :contacts, :add USERID, :remove USERID and answers bad arguments with usage', () => {
    expect(parseLine(':contacts')).toEqual({ kind: 'contact-command', command: { op: 'list' } });
    expect(parseLine(':add 42')).toEqual({ kind: 'contact-command', command: { op: 'add', userId: 42 } });
    expect(parseLine(':remove 42')).toEqual({ kind: 'contact-command', command: { op: 'remove', userId: 42 } });
    for (const line of [':add', ':add bob', ':add 0', ':add 1 2', ':remove', ':remove -3']) expect(parseLine(line).kind, line).toBe('usage');
  });
});

describe('file commands', () => {
  it('parses :file USERID PATH (spaces in the path) and :get MSGID [DIR], and answers bad arguments with usage', () => {
    expect(parseLine(':file 42 /tmp/my photo.png')).toEqual({ kind: 'file', to: 42, path: '/tmp/my photo.png' });
    expect(parseLine(':get 3f2a-b_9')).toEqual({ kind: 'get', id: '3f2a-b_9', dir: '.' });
    expect(parseLine(':get abc /tmp/down loads')).toEqual({ kind: 'get', id: 'abc', dir: '/tmp/down loads' });
    for (const line of [':file', ':file 42', ':file bob x.png', ':file 0 x.png', ':get', ':get ../x', ':get a;b']) expect(parseLine(line).kind, line).toBe('usage');
  });
});
