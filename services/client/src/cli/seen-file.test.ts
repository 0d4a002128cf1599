import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileSeenStore } from './seen-file.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cim-seen-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('FileSeenStore', () => {
  it('survives a restart: what one instance added, the next one has', async () => {
    const file = join(dir, 'alice', 'seen-msgids');
    const errors: Error[] = [];
    const first = new FileSeenStore(file, (e) => errors.push(e));
    first.add('7:abc');
    first.add('8:def');
    const second = new FileSeenStore(file, (e) => errors.push(e));
    expect([second.has('7:abc'), second.has('8:def'), second.has('9:zzz')]).toEqual([true, true, false]);
    expect(errors).toEqual([]);
  });

  it('a display begun and never recorded (the process died printing it) is shown again, flagged, once', async () => {
    const file = join(dir, 'seen');
    const first = new FileSeenStore(file, () => undefined);
    first.begin('1:done');
    first.add('1:done');
    first.begin('1:cut'); // killed here: printed or not, nobody knows
    const second = new FileSeenStore(file, () => undefined);
    expect([second.has('1:done'), second.wasInterrupted('1:done')]).toEqual([true, false]);
    expect([second.has('1:cut'), second.wasInterrupted('1:cut')]).toEqual([false, true]);
    second.begin('1:cut');
    second.add('1:cut');
    const third = new FileSeenStore(file, () => undefined);
    expect([third.has('1:cut'), third.wasInterrupted('1:cut')]).toEqual([true, false]);
  });

  it('keeps an interrupted display across a compaction', async () => {
    const file = join(dir, 'seen');
    const keys = Array.from({ length: 9 }, (_, i) => `1:k${i}`);
    await writeFile(file, ['?1:cut', ...keys].join('\n'));
    const store = new FileSeenStore(file, () => undefined, 4);
    expect(store.wasInterrupted('1:cut')).toBe(true);
    const again = new FileSeenStore(file, () => undefined, 4);
    expect([again.wasInterrupted('1:cut'), again.has('1:cut'), again.has('1:k8')]).toEqual([true, false, true]);
  });

  it('ignores garbage lines and compacts a file grown past twice its capacity', async () => {
    const file = join(dir, 'seen');
    const keys = Array.from({ length: 9 }, (_, i) => `1:k${i}`);
    await writeFile(file, ['not a key', ...keys, '../../etc'].join('\n'));
    const store = new FileSeenStore(file, () => undefined, 4);
    expect(store.has('1:k8')).toBe(true);
    expect(store.has('1:k0')).toBe(false);
    expect((await readFile(file, 'utf8')).trim().split('\n')).toEqual(keys.slice(-4));
  });

  it('reports an unwritable file once and still deduplicates in memory', async () => {
    const errors: Error[] = [];
    await writeFile(join(dir, 'a-file'), 'x'); // a file where the directory should be: ENOTDIR
    const store = new FileSeenStore(join(dir, 'a-file', 'alice', 'seen'), (e) => errors.push(e));
    store.add('1:a');
    store.add('1:b');
    expect(store.has('1:a')).toBe(true);
    expect(errors).toHaveLength(1);
  });
});
