/**
 * `cim chat` as a real child process for the CIM-compatibility tests: stdin to type into, stdout (JSON lines
 * with --json) and stderr captured; killed when the test ends if it is still running.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { onTestFinished } from 'vitest';
import { CIM_MAIN } from './cluster.ts';
import { TextSink } from './text-sink.ts';

export interface ChatProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  readonly exited: Promise<number | NodeJS.Signals>;
  type(line: string): void;
  /** The `{"type":"message"}` lines printed so far (--json). */
  messages(): Array<{ text: string; from: { userId: number; userName: string }; chatType: string; offline: boolean }>;
}

export function startChatProcess(args: readonly string[], home: string): ChatProcess {
  const child = spawn(process.execPath, [CIM_MAIN, 'chat', ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env['PATH'], HOME: home } });
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
  return {
    child,
    stdout,
    stderr,
    exited,
    type: (line) => void child.stdin.write(`${line}\n`),
    messages: () =>
      stdout.text
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { type: string } & ReturnType<ChatProcess['messages']>[number])
        .filter((m) => m.type === 'message'),
  };
}
