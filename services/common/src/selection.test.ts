import { describe, expect, it } from 'vitest';
import { createStrategy } from './selection.ts';
import { serverInfo, type ServerInfo } from './server-address.ts';

const server = (id: string, connections = 0): ServerInfo => serverInfo(id, { wsPath: '/ws', version: '', connections, startedAt: 0 })!;
const a = server('10.0.0.1:11211:8081', 5);
const b = server('10.0.0.2:11211:8081', 1);
const c = server('10.0.0.3:11211:8081', 3);

describe('selection strategies', () => {
  it('round robin cycles through the servers in order', () => {
    const rr = createStrategy('round-robin');
    expect([1, 2, 3, 4].map((u) => rr.choose([a, b, c], u)!.id)).toEqual([a.id, b.id, c.id, a.id]);
  });

  it('round robin skips excluded servers and gives up when none is left', () => {
    const rr = createStrategy('round-robin');
    expect(rr.choose([a, b], 1, new Set([a.id]))!.id).toBe(b.id);
    expect(rr.choose([a, b], 1, new Set([a.id, b.id]))).toBeUndefined();
    expect(rr.choose([], 1)).toBeUndefined();
  });

  it('random uses the injected random source', () => {
    const values = [0, 0.5, 0.99];
    const random = createStrategy('random', () => values.shift()!);
    expect([1, 2, 3].map((u) => random.choose([a, b, c], u)!.id)).toEqual([a.id, b.id, c.id]);
  });

  it('least connections picks the server with the fewest connections', () => {
    expect(createStrategy('least-connections').choose([a, b, c], 1)!.id).toBe(b.id);
    expect(createStrategy('least-connections').choose([a, b, c], 1, new Set([b.id]))!.id).toBe(c.id);
  });

  it('consistent hash routes like CIM and moves only the keys of a removed server', () => {
    const ch = createStrategy('consistent-hash');
    expect(ch.choose([a, b, c], 1547028929407)!.id).toBe(b.id);
    expect(ch.choose([a, b, c], 100)!.id).toBe(a.id);
    for (let u = 5000; u < 5200; u++) {
      const before = ch.choose([a, b, c], u)!.id;
      const after = ch.choose([a, b, c], u, new Set([b.id]))!.id;
      if (before !== b.id) expect(after).toBe(before);
      else expect(after).not.toBe(b.id);
    }
  });
});
