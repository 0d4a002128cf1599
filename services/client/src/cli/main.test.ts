import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createClient } from '../sdk/client.ts';
import { seenKey } from '../sdk/seen-store.ts';
import { startTestCim, type TestCim } from '../testing/test-cim.ts';
import { TextSink } from '../../../../test/harness/text-sink.ts';
import { DEVICE_FILE } from './device-file.ts';
import { historyFileName } from './history.ts';
import { main, SEEN_FILE } from './main.ts';

let cim: TestCim;
let historyDir: string;
let running: Chat[] = [];

beforeEach(async () => {
  cim = await startTestCim({ servers: 2 });
  historyDir = await mkdtemp(join(tmpdir(), 'cim-chat-'));
});
afterEach(async () => {
  // Quit the chats before the cluster goes away, so their logout reaches the route.
  await Promise.all(running.map(async (chat) => (chat.stdin.end(':q!\n'), await chat.exit)));
  running = [];
  await cim.stop();
  await rm(historyDir, { recursive: true, force: true });
});

interface Chat {
  readonly stdin: PassThrough;
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  readonly exit: Promise<number>;
  /** Writes a line and waits until stdout contains `expect`. */
  say(line: string, expect: RegExp | string): Promise<string>;
}

async function startChat(user: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Chat> {
  const stdin = new PassThrough();
  const stdout = new TextSink();
  const stderr = new TextSink();
  const exit = main(['--route', cim.routeUrl, '--user', user, '--history-dir', historyDir, ...extra], env, { stdin, stdout, stderr, handleSignals: false, fetch: cim.fetch });
  const chat: Chat = {
    stdin,
    stdout,
    stderr,
    exit,
    async say(line, expected) {
      const from = stdout.text.length;
      stdin.write(`${line}\n`);
      return stdout.waitFor(expected, 5_000, from);
    },
  };
  running.push(chat);
  if (!extra.includes('--once') && !extra.includes('--json')) await stdout.waitFor('* logged in as');
  return chat;
}

describe('cim chat options', () => {
  it('prints help and exits 0', async () => {
    const stdout = new TextSink();
    const code = await main(['--help'], {}, { stdin: new PassThrough(), stdout, stderr: new TextSink(), handleSignals: false });
    expect(code).toBe(0);
    expect(stdout.text).toContain('Usage: cim chat');
    expect(stdout.text).toContain('CIM_HISTORY_DIR');
  });

  it('reports bad options with exit code 2', async () => {
    const stderr = new TextSink();
    const code = await main(['--transport', 'udp'], {}, { stdin: new PassThrough(), stdout: new TextSink(), stderr, handleSignals: false });
    expect(code).toBe(2);
    expect(stderr.text).toMatch(/--user \(or CIM_USER\) is required/);
    expect(stderr.text).toMatch(/"udp" is not one of ws, tcp/);
  });

  it('exits 1 with the reason when the login fails', async () => {
    for (const server of cim.servers) await server.stop(); // no server registered: the route answers 7100
    const stderr = new TextSink();
    const code = await main(['--route', cim.routeUrl, '--user', 'x', '--password', 'x-password'], {}, { stdin: new PassThrough(), stdout: new TextSink(), stderr, handleSignals: false });
    expect(code).toBe(1);
    expect(stderr.text).toContain('login failed: route /login refused (7100)');
  });

  it('takes its options from CIM_ environment variables', async () => {
    const stdin = new PassThrough();
    const stdout = new TextSink();
    const exit = main([], { CIM_ROUTE: cim.routeUrl, CIM_USER: 'envuser', CIM_PASSWORD: 'env-password', CIM_HISTORY_DIR: historyDir, CIM_ONCE: 'true' }, { stdin, stdout, stderr: new TextSink(), handleSignals: false });
    stdin.end('from env\n');
    expect(await exit).toBe(0);
    expect(stdout.text).toContain('✓ you -> all: from env');
  });
});

describe('cim chat commands', () => {
  it('runs every built-in command, and bad arguments only print a usage line', async () => {
    const alice = await startChat('alice', ['--color', 'always']);
    await startChat('albert');

    await alice.say(':all', ':delay SECONDS MESSAGE…');
    expect(alice.stdout.text).toContain(':q!');
    await alice.say(':nope', /unknown command :nope; the commands are:\n=+\n:q!/);
    await alice.say(':olu', /userId=\d+ userName=alice \(you\)[\s\S]*2 online/);
    await alice.say(':pu alb', '\u001b[31;4malb\u001b[0mert (userId');
    await alice.say(':pu zz', 'no online user name starts with "zz"');
    await alice.say(':pu', '! usage: :pu PREFIX');
    await alice.say(':info', /userName=alice userId=\d+ state=ready transport=ws\nroute=http:\/\/127\.0\.0\.1:\d+ server=ws:\/\/127\.0\.0\.1:\d+\/ws/);
    await alice.say(':emoji', /page 1\/\d+/);
    await alice.say(':emoji 3', /page 3\/\d+/);
    await alice.say(':emoji abc', '! usage: :emoji [PAGE]');
    await alice.say(':emoji 99999', /! usage: :emoji \[PAGE\] \(PAGE is 1\.\.\d+\)/);
    await alice.say(':delay', '! usage: :delay SECONDS MESSAGE…');
    await alice.say(':delay soon hi', '! usage: :delay SECONDS MESSAGE…');
    await alice.say(':delay 1 :olu', 'only messages can be delayed');
    await alice.say(':delay 0.2 later, with several words', '* delayed message #1 will be sent in 0.2 s');
    await alice.stdout.waitFor('you -> all: later, with several words');
    await alice.say('find the needle here', 'you -> all: find the needle here');
    await alice.say(':q needle', /out {2}\*all\* {2}find the \u001b\[31;4mneedle\u001b\[0m here/);
    await alice.say(':q', '! usage: :q KEYWORD');
    await alice.say(':q nothing-like-this', 'no history line contains "nothing-like-this"');
    await alice.say(':ai', 'AI robot');
    await alice.say('are you there?', 'AI:\u001b[0m I am there!');
    await alice.say('你好吗？', 'AI:\u001b[0m 我好！');
    await alice.say(':qai', 'the AI is offline');
    await alice.say('abc;;hi', '! usage: USERID;;TEXT');
    await alice.say('123;;', '! usage: USERID;;TEXT');
    await alice.say('@albert', '! usage: @NAME TEXT');
    await alice.say('424242;;anyone?', '! user 424242 does not exist; message not sent');
    await alice.say('@nobody hi', '! nobody is not online; message not sent');
    await alice.say(':smile: is a message, not a command', 'you -> all: 😄 is a message, not a command');
    // The loop is still alive after all of that.
    await alice.say(':q!', '* bye');
    expect(await alice.exit).toBe(0);
    expect(alice.stdout.text).not.toContain('input error');
  });

  it('lets two users exchange private and group messages, by id and by name', async () => {
    const alice = await startChat('alice');
    const bob = await startChat('bob');
    const bobId = Number(/userId (\d+)/.exec(bob.stdout.text)![1]);

    await alice.say(`${bobId};;hi bob;; with two separators`, `you -> #${bobId}: hi bob;; with two separators`);
    await bob.stdout.waitFor(/\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] alice: hi bob;; with two separators/);
    await bob.say('@alice hello alice :wave:', /you -> alice\(\d+\): hello alice 👋/);
    await alice.stdout.waitFor('bob: hello alice 👋');
    await alice.say('group hello', 'you -> all: group hello');
    await bob.stdout.waitFor('alice: group hello');
  });

  it('writes history per user per day with time, direction and peer', async () => {
    const alice = await startChat('alice');
    const bob = await startChat('bob');
    await alice.say('@bob private\twith tab', 'you -> bob(');
    await bob.stdout.waitFor('alice: private');
    await bob.say(':q!', '* bye');
    await alice.say(':q!', '* bye');
    const day = historyFileName(new Date());
    // One history file per day, and the device id made on first use (device-file.ts).
    expect((await readdir(join(historyDir, 'alice'))).sort()).toEqual([day, DEVICE_FILE].sort());
    expect((await readFile(join(historyDir, 'alice', DEVICE_FILE), 'utf8')).trim()).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    const aliceLines = (await readFile(join(historyDir, 'alice', day), 'utf8')).trim().split('\n');
    expect(aliceLines).toEqual([expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d\tout\tbob\(\d+\)\tprivate\\twith tab$/)]);
    const bobLines = (await readFile(join(historyDir, 'bob', day), 'utf8')).trim().split('\n');
    expect(bobLines).toEqual([expect.stringMatching(/\tin\talice\(\d+\)\tprivate\\twith tab$/)]);
  });

  it('prints received messages as JSON lines with --json and keeps other output on stderr', async () => {
    const bob = await startChat('bob', ['--json']);
    await bob.stderr.waitFor('* logged in as bob');
    const alice = await startChat('alice');
    await alice.say('@bob as json', 'you -> bob(');
    const line = await bob.stdout.waitFor(/\{.*\}\n/);
    expect(JSON.parse(line)).toMatchObject({ type: 'message', from: { userName: 'alice' }, text: 'as json', offline: false });
    expect(bob.stdout.text).toBe(line);
  });

  it('--once sends stdin in order and exits 0, or 1 when a send failed', async () => {
    const bob = await startChat('bob');
    const once = await startChat('alice', ['--once']);
    once.stdin.end('first\n:delay 0.1 third\nsecond\n');
    expect(await once.exit).toBe(0);
    await bob.stdout.waitFor(/alice: first[\s\S]*alice: second[\s\S]*alice: third/);
    expect(once.stdout.text).not.toContain('logged in');

    const failing = await startChat('carol', ['--once']);
    failing.stdin.end('999;;nobody home\n');
    expect(await failing.exit).toBe(1);
  });

  it('reports a reconnect and keeps working', async () => {
    const alice = await startChat('alice');
    const bob = await startChat('bob');
    const aliceId = Number(/userId (\d+)/.exec(alice.stdout.text)![1]);
    for (const server of cim.servers) server.dropAll();
    await alice.stdout.waitFor(/\* \[.*\] connection lost \(.*\); reconnecting in \d+\.\d s \(attempt 1\)/);
    await alice.stdout.waitFor('reconnected via ws://');
    await bob.stdout.waitFor('reconnected via ws://');
    await bob.say(`${aliceId};;back`, 'you -> #');
    await alice.stdout.waitFor('bob: back');
  });
});

describe('cim chat receipts and the persisted seen-store', () => {
  it('shows ✓ sent, ✓✓ delivered and read; the receiver sends READ for what it displayed', async () => {
    const alice = await startChat('alice');
    const bob = await startChat('bob');
    await alice.say('@bob are you there?', /\] ✓ you -> bob\(\d+\): are you there\?/);
    await bob.stdout.waitFor('alice: are you there?');
    await alice.stdout.waitFor(/\* ✓✓ read by bob\(\d+\): "are you there\?"/);
    // Each is shown once, and a delivered receipt arriving after "read" says nothing new.
    const text = alice.stdout.text;
    expect(text.match(/read by bob/g)).toHaveLength(1);
    expect(text.match(/delivered to bob/g) ?? []).toHaveLength(text.indexOf('delivered to bob') === -1 ? 0 : 1);
    if (text.includes('delivered to bob')) expect(text.indexOf('delivered to bob')).toBeLessThan(text.indexOf('read by bob'));
  });

  it('says when the receiver is offline: the message waits in their inbox and arrives at their login', async () => {
    const bob = await startChat('bob');
    const bobId = Number(/userId (\d+)/.exec(bob.stdout.text)![1]);
    await bob.say(':q!', '* bye');
    const alice = await startChat('alice');
    await alice.say(`${bobId};;for later`, `* #${bobId} is offline; the message waits in their inbox`);
    const again = await startChat('bob');
    await again.stdout.waitFor(/alice \(offline\): for later/);
  });

  it('--json prints receipt events as JSON lines', async () => {
    const alice = await startChat('alice', ['--json']);
    await alice.stderr.waitFor('* logged in as alice');
    const bob = await startChat('bob');
    const bobId = Number(/userId (\d+)/.exec(bob.stdout.text)![1]);
    alice.stdin.write(`${bobId};;json receipts\n`);
    const events = (): Record<string, unknown>[] => alice.stdout.text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    // Both arrive, in either order (delivered is batched, read is sent on display): nothing else is printed.
    await expect.poll(() => events().map((e) => `${e['type']}/${e['status']}`).sort()).toEqual(['receipt/delivered', 'receipt/read']);
    const [first, second] = events();
    expect(first).toMatchObject({ to: bobId, msgId: expect.any(String) });
    expect(second!['msgId']).toBe(first!['msgId']);
  });

  it('does not show again, after a restart, what an earlier run already displayed', async () => {
    const bob = await startChat('bob');
    const bobId = Number(/userId (\d+)/.exec(bob.stdout.text)![1]);
    await bob.say(':q!', '* bye');
    const alice = await createClient({ ...cim.clientOptions, userName: 'alice' });
    try {
      await alice.sendPrivate(bobId, 'shown before the crash', { msgId: 'shown-1' });
      await alice.sendPrivate(bobId, 'new one', { msgId: 'new-2' });
      // An earlier run displayed the first message and died before acknowledging it: its key is in the file.
      await mkdir(join(historyDir, 'bob'), { recursive: true });
      await writeFile(join(historyDir, 'bob', SEEN_FILE), `${seenKey(alice.userId!, 'shown-1')}\n`);
      const again = await startChat('bob');
      await again.stdout.waitFor('alice (offline): new one');
      expect(again.stdout.text).not.toContain('shown before the crash');
      // What it displays now is remembered too.
      expect((await readFile(join(historyDir, 'bob', SEEN_FILE), 'utf8')).split('\n')).toContain(seenKey(alice.userId!, 'new-2'));
    } finally {
      await alice.close();
    }
  });
});
