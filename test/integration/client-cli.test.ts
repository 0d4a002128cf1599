/**
 * `cim chat` as a real process (node services/cli/src/main.ts chat …) against a real cluster, driven
 * through its stdin and stdout: every built-in command, bad arguments, two users talking, --once,
 * --json, history files, and a clean logout on :q! and on SIGTERM.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { historyFileName } from '../../services/client/src/cli/history.ts';
import { DEVICE_FILE } from '../../services/client/src/cli/device-file.ts';
import { SEEN_FILE } from '../../services/client/src/cli/main.ts';
import { TextSink } from '../harness/text-sink.ts';
import { CIM_MAIN, startCluster, type TestCluster } from '../harness/cluster.ts';

const WAIT_MS = 15_000;

let cluster: TestCluster;
let historyDir: string;

beforeAll(async () => {
  cluster = await startCluster({ servers: 2 });
  historyDir = await mkdtemp(join(tmpdir(), 'cim-chat-it-'));
});

afterAll(async () => {
  await cluster?.stop();
  if (historyDir) await rm(historyDir, { recursive: true, force: true });
});

interface ChatProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  readonly exited: Promise<number | NodeJS.Signals>;
  /** Writes a line to stdin and waits for `expected` in what stdout prints after it. */
  say(line: string, expected: RegExp | string): Promise<string>;
  /** Waits for `expected` anywhere in stdout. */
  see(expected: RegExp | string): Promise<string>;
}

/** Starts `cim chat`; the process is killed when the test ends, also when it fails. */
function startChat(user: string, extra: string[] = []): ChatProcess {
  const child = spawn(process.execPath, [CIM_MAIN, 'chat', '--route', cluster.routeUrl, '--user', user, '--history-dir', historyDir, ...extra], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'], HOME: historyDir },
  });
  const stdout = new TextSink();
  const stderr = new TextSink();
  child.stdout.pipe(stdout);
  child.stderr.pipe(stderr);
  const exited = new Promise<number | NodeJS.Signals>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code ?? 0)));
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const withStderr = async (wait: Promise<string>): Promise<string> => {
    try {
      return await wait;
    } catch (err) {
      (err as Error).message += `\n--- stderr ---\n${stderr.text}`;
      throw err;
    }
  };
  return {
    child,
    stdout,
    stderr,
    exited,
    say(line, expected) {
      const from = stdout.text.length;
      child.stdin.write(`${line}\n`);
      return withStderr(stdout.waitFor(expected, WAIT_MS, from));
    },
    see: (expected) => withStderr(stdout.waitFor(expected, WAIT_MS)),
  };
}

async function loggedIn(chat: ChatProcess): Promise<number> {
  const banner = await chat.see(/\* logged in as \S+ \(userId \d+\)/);
  return Number(/userId (\d+)/.exec(banner)![1]);
}

describe('cim chat as a process', () => {
  it('runs every built-in command, prints a usage line for bad arguments and keeps reading', async () => {
    const other = startChat('cli-albert');
    await loggedIn(other);
    const alice = startChat('cli-alice', ['--color', 'always']);
    await loggedIn(alice);

    await alice.say(':all', /=+\n:q! +quit[\s\S]*:delay SECONDS MESSAGE… +send MESSAGE[\s\S]*@NAME TEXT +private message[^\n]*\n#GROUPID TEXT +message to a named group[^\n]*\n=+/);
    await alice.say(':what', /! unknown command :what; the commands are:\n=+\n:q!/);
    await alice.say(':olu', /userId=\d+ userName=cli-alice \(you\)/);
    expect(alice.stdout.text).toMatch(/userId=\d+ userName=cli-albert/);
    await alice.say(':pu cli-alb', '\u001b[31;4mcli-alb\u001b[0mert (userId');
    await alice.say(':pu zzz', 'no online user name starts with "zzz"');
    await alice.say(':pu', '! usage: :pu PREFIX');
    await alice.say(':info', /userName=cli-alice userId=\d+ state=ready transport=ws\nroute=http:\/\/127\.0\.0\.1:\d+ server=ws:\/\/127\.0\.0\.1:\d+\/\S+/);
    await alice.say(':emoji', /:\w+: \S+\n[\s\S]*page 1\/\d+/);
    await alice.say(':emoji 2', /page 2\/\d+/);
    await alice.say(':emoji two', '! usage: :emoji [PAGE] (PAGE is a number from 1)');
    await alice.say(':emoji 100000', /! usage: :emoji \[PAGE\] \(PAGE is 1\.\.\d+\)/);
    await alice.say(':delay', '! usage: :delay SECONDS MESSAGE…');
    await alice.say(':delay x hi', '! usage: :delay SECONDS MESSAGE…');
    await alice.say(':delay 1 :olu', 'only messages can be delayed');
    await alice.say(':delay 0.5 a delayed message with :smile: and words', '* delayed message #1 will be sent in 0.5 s');
    await other.see('cli-alice: a delayed message with 😄 and words');
    await alice.see('you -> all: a delayed message with 😄 and words');
    await alice.say(':q delayed', /out {2}\*all\* {2}a \u001b\[31;4mdelayed\u001b\[0m message with :smile: and words/);
    await alice.say(':q', '! usage: :q KEYWORD');
    await alice.say(':q no-such-thing', 'no history line contains "no-such-thing"');
    await alice.say(':ai', 'AI robot');
    await alice.say('are you a robot?', 'AI:\u001b[0m I am a robot!');
    await alice.say(':qai', 'the AI is offline');
    await alice.say('abc;;hi', '! usage: USERID;;TEXT');
    await alice.say('@cli-albert', '! usage: @NAME TEXT');
    await alice.say('@nobody-here hi', '! nobody-here is not online; message not sent');
    await alice.say('12345;;hi', '! user 12345 does not exist; message not sent');
    await alice.say(':info', 'state=ready'); // still reading after all of that
    expect(other.stdout.text).not.toContain('are you a robot'); // AI mode sends nothing

    await alice.say(':q!', '* bye');
    expect(await alice.exited).toBe(0);
    const online = await listOnline(other);
    expect(online).not.toContain('cli-alice');
  });

  it('lets two users exchange private and group messages and keeps both histories', async () => {
    const alice = startChat('cli-ann');
    const bob = startChat('cli-ben');
    const [annId, benId] = await Promise.all([loggedIn(alice), loggedIn(bob)]);

    await alice.say(`${benId};;hello ben, by id`, `you -> #${benId}: hello ben, by id`);
    await bob.see(/\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] cli-ann: hello ben, by id/);
    await bob.say('@cli-ann hi ann, by name :wave:', `you -> cli-ann(${annId}): hi ann, by name 👋`);
    await alice.see('cli-ben: hi ann, by name 👋');
    await alice.say('hello group', 'you -> all: hello group');
    await bob.see('cli-ann: hello group');
    await bob.say('group reply', 'you -> all: group reply');
    await alice.see('cli-ben: group reply');

    await alice.say(':q!', '* bye');
    await bob.say(':q!', '* bye');
    expect(await alice.exited).toBe(0);
    expect(await bob.exited).toBe(0);

    const day = historyFileName(new Date());
    expect(day).toMatch(/^\d{8}\.log$/);
    const annLines = (await readFile(join(historyDir, 'cli-ann', day), 'utf8')).trim().split('\n');
    expect(annLines.map((l) => l.split('\t').slice(1))).toEqual([
      ['out', `#${benId}`, 'hello ben, by id'],
      ['in', `cli-ben(${benId})`, 'hi ann, by name :wave:'],
      ['out', '*all*', 'hello group'],
      ['in', `cli-ben(${benId})`, 'group reply'],
    ]);
    for (const line of annLines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d\t/);
    // Next to the history: the ids of the messages shown, so a restarted chat does not show them again, and
    // this installation's device id (--login-policy multi).
    expect((await readdir(join(historyDir, 'cli-ben'))).sort()).toEqual([day, SEEN_FILE, DEVICE_FILE].sort());
  });

  it('--once sends what stdin holds and exits; --json prints received messages as JSON lines', async () => {
    const listener = startChat('cli-json', ['--json']);
    const listenerId = Number(/userId (\d+)/.exec(await listener.stderr.waitFor(/\* logged in as cli-json \(userId \d+\)/, WAIT_MS))![1]);

    const once = startChat('cli-once', ['--once']);
    once.child.stdin.end(`${listenerId};;first via once\n:delay 0.2 third, delayed\nsecond via once\n`);
    expect(await once.exited).toBe(0);
    expect(once.stdout.text).toMatch(/you -> #\d+: first via once\n[\s\S]*you -> all: second via once\n[\s\S]*you -> all: third, delayed/);

    await expect.poll(() => listener.stdout.text.trim().split('\n').filter(Boolean).length, { timeout: WAIT_MS }).toBe(3);
    const lines = listener.stdout.text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l['text'])).toEqual(['first via once', 'second via once', 'third, delayed']);
    expect(lines[0]).toMatchObject({ type: 'message', from: { userName: 'cli-once' }, to: listenerId, offline: false });

    const failing = startChat('cli-once-fail', ['--once']);
    failing.child.stdin.end('777;;nobody has this id\n');
    expect(await failing.exited).toBe(1);
  });

  it('logs out on SIGTERM', async () => {
    const watcher = startChat('cli-watcher');
    await loggedIn(watcher);
    const leaver = startChat('cli-leaver');
    await loggedIn(leaver);
    expect(await listOnline(watcher)).toContain('cli-leaver');
    leaver.child.kill('SIGTERM');
    expect(await leaver.exited).toBe(0);
    expect(await listOnline(watcher)).not.toContain('cli-leaver');
  });
});

describe('cim chat on a terminal', () => {
  it('redraws the prompt and the half-typed line when a message arrives while typing', async () => {
    // util-linux `script` gives the chat a pseudo-terminal, so readline runs in terminal mode.
    const command = [CIM_MAIN, 'chat', '--route', cluster.routeUrl, '--user', 'cli-typist', '--history-dir', historyDir].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qfec', `'${process.execPath}' ${command}`, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env['PATH'], HOME: historyDir, TERM: 'xterm' },
    });
    const exited = new Promise<unknown>((resolve) => child.on('exit', resolve));
    onTestFinished(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    });
    const screen = new TextSink();
    child.stdout.pipe(screen);
    await screen.waitFor('cli-typist> ', WAIT_MS);

    child.stdin.write('half typed');
    await screen.waitFor('half typed', WAIT_MS);
    const mark = screen.text.length;
    const sender = startChat('cli-sender', ['--once']);
    sender.child.stdin.end('interrupting message\n');
    expect(await sender.exited).toBe(0);
    // The incoming line is printed on a cleared line, then the prompt comes back with the typed text.
    await screen.waitFor(/\u001b\[2K\u001b\[1G\[[^\]]+\] cli-sender: interrupting message\r?\n[^\n]*cli-typist> half typed/, WAIT_MS, mark);

    child.stdin.write(' and finished\n');
    await screen.waitFor('you -> all: half typed and finished', WAIT_MS);
    child.stdin.write(':q!\n');
    await screen.waitFor('* bye', WAIT_MS);
  });
});

async function listOnline(chat: ChatProcess): Promise<string> {
  return chat.say(':olu', /(userId=[^\n]*\n)+\d+ online|nobody is online/);
}
