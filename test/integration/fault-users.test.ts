/**
 * Faults of users: two clients of one user logging in at once must not knock each other off, and a
 * receiver killed 50 ms after its login with stored messages waiting must lose none of them: its next
 * login shows every one, once.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type CimClient, type ClientState } from '../../services/client/src/index.ts';
import { waitUntil } from '../../services/common/src/infra/ports.ts';
import { TextSink } from '../harness/text-sink.ts';
import { CIM_MAIN, startCluster, type TestCluster } from '../harness/cluster.ts';

let cluster: TestCluster;
let home: string;
const clients: CimClient[] = [];

beforeAll(async () => {
  // The writer fills an inbox with 1000 messages as fast as it can: above the default per-connection rate.
  // 1000 stored messages from one sender: above the default per-sender share of an inbox (--inbox-max-per-sender 200).
  cluster = await startCluster({ servers: 2, serverArgs: ['--max-msg-rate', '2000', '--msg-burst', '2000', '--inbox-max-per-sender', '1000'] });
  home = await mkdtemp(join(tmpdir(), 'cim-fault-users-'));
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cluster?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

async function client(userName: string, onText?: (text: string) => void): Promise<CimClient> {
  const c = await createClient({ routeUrl: cluster.routeUrl, userName, backoff: { initialDelayMs: 100, maxDelayMs: 1_000 }, ...(onText ? { onMessage: (m) => onText(m.text) } : {}) });
  clients.push(c);
  return c;
}

/**
 * `cim chat --json` as a real process; resolves once it is logged in. Messages it shows are counted in `shown`,
 * those it flags as shown again after an interrupted display (`reshown`) also in `reshown`.
 */
function chatProcess(user: string, shown: Map<string, number>, reshown = new Map<string, number>()) {
  const child = spawn(process.execPath, [CIM_MAIN, 'chat', '--route', cluster.routeUrl, '--user', user, '--json', '--history-dir', home], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'], HOME: home },
  });
  const out = new TextSink();
  const err = new TextSink();
  child.stdout.pipe(out);
  child.stderr.pipe(err);
  let seenLines = 0;
  const count = () => {
    const lines = out.text.split('\n');
    for (; seenLines < lines.length - 1; seenLines++) {
      const line = lines[seenLines]!;
      if (!line.startsWith('{')) continue;
      const event = JSON.parse(line) as { type?: string; text?: string; reshown?: boolean };
      if (event.type !== 'message' || event.text === undefined) continue;
      shown.set(event.text, (shown.get(event.text) ?? 0) + 1);
      if (event.reshown === true) reshown.set(event.text, (reshown.get(event.text) ?? 0) + 1);
    }
  };
  // 'close', not 'exit': after 'exit' the last lines the process wrote may still be in the pipe, and a
  // message it showed just before the kill must be counted as shown.
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    child,
    count,
    err,
    out,
    async ready() {
      // With --json, stdout carries only JSON lines; notices such as the login go to stderr.
      await waitUntil(`cim chat of ${user} to log in`, () => (err.text.includes('* logged in as') ? true : undefined), 15_000, 5);
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
      count();
    },
    async quit() {
      child.stdin.end(':q!\n');
      await exited;
      count();
    },
  };
}

describe('faults of users', () => {
  it('two clients of one user logging in at once: one wins, the other stops, nobody is knocked off', async () => {
    const sender = await client('fu-sender');
    const texts: string[] = [];
    const attempts = await Promise.allSettled([client('fu-twin', (t) => texts.push(t)), client('fu-twin', (t) => texts.push(t))]);
    const winners = attempts.filter((a): a is PromiseFulfilledResult<CimClient> => a.status === 'fulfilled').map((a) => a.value);
    const losers = attempts.filter((a): a is PromiseRejectedResult => a.status === 'rejected');
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(1);
    expect(losers[0]!.reason).toMatchObject({ serverCode: '5000' });
    const winner = winners[0]!;
    const states: ClientState[] = [];
    winner.on('state', (s) => states.push(s.to));

    // A third client of the same user trying again and again must not take the session away either.
    for (let i = 0; i < 3; i++) await expect(client('fu-twin')).rejects.toMatchObject({ serverCode: '5000' });
    const total = 100;
    for (let i = 0; i < total; i++) await sender.sendPrivate(winner.userId!, `twin#${i}`);
    await waitUntil('every message to the twin', () => (texts.length >= total ? true : undefined), 15_000, 20);
    expect(new Set(texts).size).toBe(total);
    expect(texts).toHaveLength(total);
    expect(states).toEqual([]);
    expect(winner.state).toBe('ready');
  });

  it('a receiver killed 50 ms after its login loses none of its stored messages', async () => {
    const sender = await client('fu-writer');
    // Register the receiver, then leave: its messages are stored.
    const first = await client('fu-reader');
    const readerId = first.userId!;
    await first.close();
    const total = 1000;
    for (let i = 0; i < total; i++) await sender.sendPrivate(readerId, `stored#${i}`);

    const shown = new Map<string, number>();
    const doomed = chatProcess('fu-reader', shown);
    await doomed.ready();
    await new Promise((r) => setTimeout(r, 50)); // the fault: dies 50 ms into its replay
    await doomed.kill();
    const shownBeforeKill = [...shown.values()].reduce((a, b) => a + b, 0);

    const reshown = new Map<string, number>();
    const next = chatProcess('fu-reader', shown, reshown);
    await next.ready();
    await waitUntil('every stored message to be shown', () => (next.count(), shown.size >= total ? true : undefined), 60_000, 50).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}: ${shown.size} of ${total} shown (${shownBeforeKill} before the kill); cim chat said:\n${next.err.text.slice(-2000)}`);
    });
    await next.quit();
    // A terminal is not transactional: the killed process may have died between printing a message and
    // recording it. The next run shows that one message again, flagged `reshown` (never lost, never silently
    // twice); every other message shows exactly once, unflagged. docs/delivery.md says so.
    const unflagged = (text: string) => (shown.get(text) ?? 0) - (reshown.get(text) ?? 0);
    const twice = [...shown.keys()].filter((text) => unflagged(text) > 1).length;
    const flagged = [...reshown.values()].reduce((a, b) => a + b, 0);
    console.log(`fault-counts ${JSON.stringify({ fault: 'receiver-killed-50ms', sent: total, acked: total, shownBeforeKill, delivered: shown.size, shownTwice: twice, reshownFlagged: flagged })}`);
    expect(shown.size).toBe(total);
    expect(twice).toBe(0);
    for (const text of shown.keys()) expect(unflagged(text), text).toBeLessThanOrEqual(1);
    // At most the one message being printed at the instant of the SIGKILL, and only one the killed run reached.
    expect(flagged).toBeLessThanOrEqual(1);
    for (const text of reshown.keys()) expect(Number(text.split('#')[1])).toBeLessThan(shownBeforeKill + 1);
  }, 120_000);
});
