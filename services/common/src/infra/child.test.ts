/** The one process/wait harness: output kept in memory and in a log file, exit status, stop, waits. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startProcess, type ManagedProcess } from './child.ts';
import { waitFor, WaitAborted, waitUntil } from './wait.ts';

const started: ManagedProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const p of started.splice(0)) await p.stop('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const node = (name: string, script: string, logFile?: string) => {
  const p = startProcess(name, process.execPath, ['-e', script], logFile === undefined ? {} : { logFile });
  started.push(p);
  return p;
};

describe('startProcess', () => {
  it('keeps every output line in memory and in the log file, and reports the exit code', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cim-child-'));
    dirs.push(dir);
    const logFile = join(dir, 'p.log');
    // exitCode, not process.exit(): exit() may cut off stdout still queued for the pipe (seen: 176 of 300 lines).
    const p = node('counter', 'for (let i = 0; i < 300; i++) console.log(`line ${i}`); console.error("done"); process.exitCode = 3', logFile);
    expect(p.exitStatus()).toBeUndefined();
    expect(await p.exited).toBe(3);
    expect(p.exitStatus()).toBe(3);
    // 'exit' can come before the last output is read from the pipes: wait until the log file holds every line (each
    // line is kept in memory before it is written there).
    await waitUntil('the log file to hold every line', () => (readFileSync(logFile, 'utf8').split('\n').length === 302 ? true : undefined), 5_000, 10);
    const lines = readFileSync(logFile, 'utf8').split('\n');
    expect(lines.filter((l) => l.startsWith('line ')).length).toBe(300);
    // stdout and stderr are two pipes, read in either order: "done" (stderr) may land anywhere among the stdout
    // lines, also before the last 200 (then it is no longer kept). Only each pipe's own order is asserted.
    const kept = p.output().split('\n');
    expect(kept).toHaveLength(201); // the last 200 lines and the (empty) partial one
    expect(kept.at(-1)).toBe('');
    const done = kept.filter((l) => l === 'done').length;
    expect(done).toBeLessThanOrEqual(1);
    const counted = kept.filter((l) => l.startsWith('line ')).map((l) => Number(l.slice(5)));
    expect(counted).toEqual(Array.from({ length: 200 - done }, (_, i) => 100 + done + i));
    expect(lines.filter((l) => l === 'done').length).toBe(1);
  });

  it('stops with SIGTERM, then SIGKILL after the grace period', async () => {
    const p = node('stubborn', 'process.on("SIGTERM", () => console.log("ignored")); console.log("up"); setInterval(() => {}, 1000)');
    await waitUntil('the process to start', () => (p.output().includes('up') ? true : undefined), 5_000, 10);
    await p.stop('SIGTERM', 200);
    expect(p.exitStatus()).toBe('SIGKILL');
    expect(p.output()).toContain('ignored');
  });

  it('throws for a command that does not exist, without an unhandled error event', () => {
    expect(() => startProcess('missing', '/nonexistent/cim-no-such-binary', [])).toThrow(/could not start missing/);
  });
});

describe('waitFor', () => {
  it('treats undefined and false as "not yet" and returns the first other value', async () => {
    let calls = 0;
    expect(await waitFor('three calls', () => (++calls < 3 ? false : calls), { timeoutMs: 1_000, intervalMs: 1 })).toBe(3);
  });

  it('ends at once on an error unless errors are retried; WaitAborted always ends it', async () => {
    let calls = 0;
    const failing = () => {
      calls++;
      throw new Error('not up');
    };
    await expect(waitFor('x', failing, { timeoutMs: 1_000, intervalMs: 1 })).rejects.toThrow('not up');
    expect(calls).toBe(1);
    await expect(waitFor('x', failing, { timeoutMs: 30, intervalMs: 1, retryErrors: true, describe: () => 'log tail' })).rejects.toThrow(
      /timed out after 30 ms waiting for x \(last error: Error: not up\)\nlog tail/,
    );
    expect(calls).toBeGreaterThan(2);
    calls = 0;
    const aborting = () => {
      calls++;
      throw new WaitAborted('died');
    };
    await expect(waitFor('x', aborting, { timeoutMs: 1_000, intervalMs: 1, retryErrors: true })).rejects.toThrow('died');
    expect(calls).toBe(1);
  });
});
