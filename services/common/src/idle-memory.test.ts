/** An idle process gives its young generation back; a busy one, or one with a small young generation, is left alone. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { IDLE_UTILIZATION, YOUNG_GENERATION_SLACK_BYTES, fullCollector, shouldCollect } from './idle-memory.ts';

const MODULE = fileURLToPath(new URL('./idle-memory.ts', import.meta.url));
const LOG = fileURLToPath(new URL('./log.ts', import.meta.url));
const MiB = 2 ** 20;

describe('shouldCollect', () => {
  it('collects when the loop was idle and the young generation is larger than it needs', () => {
    expect(shouldCollect({ utilization: 0.002, youngGenerationBytes: 24 * MiB })).toBe(true);
  });

  it('leaves a busy process alone, however large its young generation', () => {
    expect(shouldCollect({ utilization: IDLE_UTILIZATION, youngGenerationBytes: 24 * MiB })).toBe(false);
    expect(shouldCollect({ utilization: 0.5, youngGenerationBytes: 64 * MiB })).toBe(false);
  });

  it('does not collect again once the young generation is back to its start size', () => {
    expect(shouldCollect({ utilization: 0, youngGenerationBytes: 1 * MiB })).toBe(false);
    expect(shouldCollect({ utilization: 0, youngGenerationBytes: YOUNG_GENERATION_SLACK_BYTES })).toBe(false);
  });
});

describe('fullCollector', () => {
  it('gets V8 gc() without exposing it to the process', () => {
    expect(typeof fullCollector()).toBe('function');
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });
});

/**
 * A child grows its young generation (objects that survive a few scavenges), stops allocating, and runs the
 * releaser with a short interval; it reports the young generation's size once it is back to at most 2 MiB
 * (or 15 s passed).
 */
async function youngGenerationAfterIdle(): Promise<{ before: number; after: number }> {
  const script = [
    `const { releaseMemoryWhenIdle, youngGenerationBytes } = await import(${JSON.stringify(MODULE)});`,
    `const { silentLogger } = await import(${JSON.stringify(LOG)});`,
    'let keep = [];',
    "for (let i = 0; i < 400000; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 100000) keep = []; }",
    'keep = null;',
    'const before = youngGenerationBytes();',
    'releaseMemoryWhenIdle(silentLogger, 1000);',
    'const started = Date.now();',
    'const poll = setInterval(() => {',
    '  const now = youngGenerationBytes();',
    `  if (now <= ${2 * MiB} || Date.now() - started > 15000) { clearInterval(poll); console.log(JSON.stringify({ before, after: now })); }`,
    '}, 100);',
  ].join('\n');
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`child exited with ${code}: ${err}`);
  return JSON.parse(out) as { before: number; after: number };
}

describe('releaseMemoryWhenIdle', () => {
  it('shrinks a young generation that start-up grew once the process is idle', async () => {
    const { before, after } = await youngGenerationAfterIdle();
    expect(before).toBeGreaterThan(YOUNG_GENERATION_SLACK_BYTES);
    expect(after).toBeLessThanOrEqual(2 * MiB);
  }, 20_000);
});
