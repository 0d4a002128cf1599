import { describe, expect, it } from 'vitest';
import { cachedProbe } from './probe.ts';
import type { ServerInfo } from '../../common/src/server-address.ts';

const server = (id: string) => ({ id }) as ServerInfo;

describe('cachedProbe', () => {
  it('lets concurrent logins share one probe, caches a success and probes again once it expired', async () => {
    let now = 0;
    const calls: string[] = [];
    const answers: Array<(ok: boolean) => void> = [];
    const probe = cachedProbe((s) => { calls.push(s.id); return new Promise((r) => answers.push(r)); }, { now: () => now });
    const storm = Array.from({ length: 50 }, () => probe(server('a')));
    const other = probe(server('b'));
    expect(calls).toEqual(['a', 'b']);
    answers[0]!(true);
    answers[1]!(false);
    expect(await Promise.all(storm)).toEqual(Array(50).fill(true));
    expect(await other).toBe(false);
    expect(await probe(server('a'))).toBe(true); // cached
    const again = probe(server('b')); // a failure is not cached
    expect(calls).toEqual(['a', 'b', 'b']);
    answers[2]!(true);
    expect(await again).toBe(true);
    now = 2001;
    const expired = probe(server('a'));
    expect(calls).toEqual(['a', 'b', 'b', 'a']);
    answers[3]!(false);
    expect(await expired).toBe(false);
  });
});
