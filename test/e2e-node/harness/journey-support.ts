/** Small helpers of the journey test: message exchanges counted both ways, commands inside the node, log dir. */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { waitFor } from '../../e2e/harness/processes.ts';
import type { ChatUser } from './chat.ts';

/** Runs a command in the node's mount and network namespaces (ctr sees the node's containerd). */
export function nodeExec(command: string, args: string[]): string {
  return execFileSync('nsenter', ['-t', String(inject('nodeInitPid')), '-m', '-n', '--', command, ...args], { encoding: 'utf8', timeout: 60_000 });
}

/** Runs a program of this machine (e.g. node) inside the node's network namespace only: `wrapper` is the nsenter prefix. */
export function nodeExecNet(wrapper: string[], argv: string[]): string {
  const [cmd = '', ...rest] = [...wrapper, ...argv];
  return execFileSync(cmd, rest, { encoding: 'utf8', timeout: 60_000 });
}

/** Where the test's own processes (chat, port-forward) log; saved with the artifacts. */
export function logDir(): string {
  const dir = join(inject('nodeLogDirs')['node'] ?? '/tmp', 'clients');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * a → b and b → a, `n` private messages each (`<prefix>-a-<i>`, `<prefix>-b-<i>`), typed every `intervalMs`; waits until
 * each side received exactly its n (no loss, no duplicate), failing with the clients' last lines.
 */
export async function sendBoth(a: ChatUser, b: ChatUser, prefix: string, n: number, timeoutMs = 60_000, intervalMs = 0): Promise<void> {
  const fromA = `${prefix}-a-`;
  const fromB = `${prefix}-b-`;
  const startA = a.lines.length;
  const startB = b.lines.length;
  for (let i = 1; i <= n; i++) {
    a.type(`${b.userId};;${fromA}${i}`);
    b.type(`${a.userId};;${fromB}${i}`);
    if (intervalMs > 0) await new Promise((r) => setTimeout(r, intervalMs));
  }
  const expected = (p: string) => Array.from({ length: n }, (_, i) => `${p}${i + 1}`).sort();
  const describe = () =>
    `${b.name} got ${b.count(fromA)}/${n} of ${fromA}*, ${a.name} got ${a.count(fromB)}/${n} of ${fromB}*\n` +
    `--- ${a.name}\n${a.lines.slice(startA).slice(-12).join('\n')}\n--- ${b.name}\n${b.lines.slice(startB).slice(-12).join('\n')}`;
  await waitFor(`${n} messages each way (${prefix})`, () => b.count(fromA) >= n && a.count(fromB) >= n, { timeoutMs, describe });
  const errors = [...a.lines.slice(startA), ...b.lines.slice(startB)].filter((l) => l.startsWith('! '));
  if (errors.length > 0) throw new Error(`send errors during ${prefix}:\n${errors.join('\n')}\n${describe()}`);
  const gotB = [...b.texts(fromA)].sort();
  const gotA = [...a.texts(fromB)].sort();
  if (JSON.stringify(gotB) !== JSON.stringify(expected(fromA)) || JSON.stringify(gotA) !== JSON.stringify(expected(fromB))) {
    throw new Error(`duplicates or strays in ${prefix}: ${JSON.stringify({ gotB, gotA })}`);
  }
}
