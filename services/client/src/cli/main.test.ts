import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeCim, type FakeCim } from '../testing/fake-cim.ts';
import { TextSink } from '../testing/text-sink.ts';
import { historyFileName } from './history.ts';
import { main } from './main.ts';

let cim: FakeCim;
let historyDir: string;
let running: Chat[] = [];

beforeEach(async () => {
  cim = await startFakeCim({ servers: 2 });
  historyDir = await mkdtemp(join(tmpdir(), 'cim-chat-'));
});
afterEach(async () => {
  // Quit the chats before the fake cluster goes away, so their logout reaches the route.
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
  const exit = main(['--route', cim.routeUrl, '--user', user, '--history-dir', historyDir, ...extra], env, { stdin, stdout, stderr, handleSignals: false });
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
    cim.loginFailure = { code: '7100', message: 'cim server is not available, please try again later!' };
    const stderr = new TextSink();
    const code = await main(['--route', cim.routeUrl, '--user', 'x'], {}, { stdin: new PassThrough(), stdout: new TextSink(), stderr, handleSignals: false });
    expect(code).toBe(1);
    expect(stderr.text).toContain('login failed: route /login refused (7100)');
  });

  it('takes its options from CIM_ environment variables', async () => {
    const stdin = new PassThrough();
    const stdout = new TextSink();
    const exit = main([], { CIM_ROUTE: cim.routeUrl, CIM_USER: 'envuser', CIM_HISTORY_DIR: historyDir, CIM_ONCE: 'true' }, { stdin, stdout, stderr: new TextSink(), handleSignals: false });
    stdin.end('from env\n');
    expect(await exit).toBe(0);
    expect(stdout.text).toContain('you -> all: from env');
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
    await alice.say('424242;;anyone?', '! user 424242 is offline; message not delivered');
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
    expect(await readdir(join(historyDir, 'alice'))).toEqual([day]);
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
