/** Lines written to a piped stdout survive a SIGKILL that comes right after the write returned. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const HELPER = fileURLToPath(new URL('./stdout-sync.ts', import.meta.url));
const LINES = 400; // 400 lines of 1 KiB: far more than a 64 KiB pipe holds

/**
 * A child writes LINES lines to its piped stdout and then says "written" on stderr. The parent reads nothing
 * until then, kills the child with SIGKILL at once, and counts the lines that come out of the pipe.
 */
async function linesSurvivingKill(synchronous: boolean): Promise<number> {
  const script = [
    `const { makeWritesSynchronous } = await import(${JSON.stringify(HELPER)});`,
    synchronous ? 'if (!makeWritesSynchronous(process.stdout)) throw new Error("not a pipe");' : '',
    `const line = 'x'.repeat(1023) + '\\n';`,
    `for (let i = 0; i < ${LINES}; i++) process.stdout.write(line);`,
    `process.stderr.write('written\\n');`,
    'setInterval(() => {}, 1000);',
  ].join('\n');
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let bytes = 0;
  child.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
  child.stdout.pause();
  let stderr = '';
  const ended = new Promise<void>((resolve) => child.stdout.on('end', resolve));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('written')) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    // With synchronous writes the child blocks on the full pipe: read only after it is unblocked by reading.
    if (synchronous) child.stdout.resume();
    child.on('exit', () => (stderr.includes('written') ? resolve() : reject(new Error(`child exited early: ${stderr}`))));
  });
  child.stdout.resume();
  await Promise.all([ended, exited]);
  return bytes / 1024;
}

describe('makeWritesSynchronous', () => {
  it('keeps every line already written when the process is killed', async () => {
    expect(await linesSurvivingKill(true)).toBe(LINES);
  });

  it('is needed: without it, lines written before the kill are lost', async () => {
    expect(await linesSurvivingKill(false)).toBeLessThan(LINES);
  });
});
