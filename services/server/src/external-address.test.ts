import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/src/log.ts';
import { advertisable, clientAddress, parseServerNodeData, serverInfo, type ServerAddress } from '../../common/src/server-address.ts';
import { ExternalAddressWatch, readExternalAddress } from './external-address.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cim-external-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const ADDR = { host: 'node-1.example.com', tcpPort: 31211, httpPort: 31081 };

/** The kubelet's ConfigMap volume layout: `<key> -> ..data/<key>`, `..data -> ..<timestamp>`, swapped atomically. */
function publish(version: number, files: Record<string, string>): void {
  const ts = join(dir, `..v${version}`);
  mkdirSync(ts);
  for (const [k, v] of Object.entries(files)) writeFileSync(join(ts, k), v);
  symlinkSync(`..v${version}`, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const k of Object.keys(files)) {
    try {
      symlinkSync(join('..data', k), join(dir, k));
    } catch {
      /* already linked */
    }
  }
}

describe('readExternalAddress', () => {
  it('reads a valid address', async () => {
    writeFileSync(join(dir, 'a'), JSON.stringify(ADDR));
    expect(await readExternalAddress(join(dir, 'a'))).toEqual(ADDR);
  });

  it.each([
    ['not JSON', '{host', 'not JSON'],
    ['a port out of range', JSON.stringify({ ...ADDR, tcpPort: 70000 }), 'valid host and ports'],
    ['a missing port', JSON.stringify({ host: 'h', tcpPort: 1 }), 'valid host and ports'],
    ['a host with a space', JSON.stringify({ ...ADDR, host: 'a b' }), 'valid host and ports'],
    ['an array', '[]', 'valid host and ports'],
    ['an oversized file', ' '.repeat(5000), 'larger than'],
  ])('ignores %s and says why', async (_name, content, reason) => {
    writeFileSync(join(dir, 'a'), content);
    const problems: string[] = [];
    expect(await readExternalAddress(join(dir, 'a'), (p) => problems.push(p))).toBeUndefined();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(reason);
  });

  it('treats a missing file as "not published yet", not as a problem', async () => {
    const problems: string[] = [];
    expect(await readExternalAddress(join(dir, 'absent'), (p) => problems.push(p))).toBeUndefined();
    expect(problems).toEqual([]);
  });
});

describe('ExternalAddressWatch', () => {
  it('has the address after start and follows the kubelet swapping the ConfigMap', async () => {
    const changes: (ServerAddress | undefined)[] = [];
    const path = join(dir, 'chat-server-0');
    const watch = new ExternalAddressWatch({ path, log: silentLogger, intervalMs: 60_000, onChange: (a) => changes.push(a) });
    await watch.start();
    expect(watch.current).toBeUndefined(); // not published yet
    expect(changes).toEqual([]);

    publish(1, { 'chat-server-0': JSON.stringify(ADDR) });
    await watch.refresh();
    expect(watch.current).toEqual(ADDR);

    await watch.refresh(); // unchanged: no second notification
    const moved = { ...ADDR, host: '203.0.113.7' };
    publish(2, { 'chat-server-0': JSON.stringify(moved) });
    await watch.refresh();
    expect(watch.current).toEqual(moved);

    publish(3, { 'chat-server-1': JSON.stringify(ADDR) }); // this pod's key removed: its link dangles
    await watch.refresh();
    expect(watch.current).toBeUndefined();
    expect(changes).toEqual([ADDR, moved, undefined]);
    watch.stop();
  });

  it('keeps running on a bad file and reports it once', async () => {
    const warnings: unknown[] = [];
    const log = { ...silentLogger, warn: (o: unknown) => void warnings.push(o) } as typeof silentLogger;
    const path = join(dir, 'a');
    writeFileSync(path, 'garbage');
    const watch = new ExternalAddressWatch({ path, log, intervalMs: 60_000 });
    await watch.start();
    await watch.refresh();
    await watch.refresh();
    expect(watch.current).toBeUndefined();
    expect(warnings).toHaveLength(1);
    watch.stop();
  });
});

describe('external address in the ZooKeeper node data', () => {
  it('round-trips and is what an external-mode route hands to clients', () => {
    const raw = Buffer.from(JSON.stringify({ wsPath: '/ws', version: '1', connections: 3, startedAt: 1, external: ADDR }));
    const data = parseServerNodeData(raw);
    expect(data?.external).toEqual(ADDR);
    const info = serverInfo('10.244.0.13:11211:8081', data)!;
    expect(clientAddress(info, 'external')).toEqual(ADDR);
    expect(clientAddress(info, 'internal')).toMatchObject({ host: '10.244.0.13', tcpPort: 11211, httpPort: 8081 });
  });

  it('lets an external-mode route choose only servers that published an external address', () => {
    const withExt = serverInfo('10.0.0.1:1:2', { wsPath: '/ws', version: '1', connections: 0, startedAt: 0, external: ADDR })!;
    const without = serverInfo('10.0.0.2:1:2', { wsPath: '/ws', version: '1', connections: 0, startedAt: 0 })!;
    const bare = serverInfo('10.0.0.3:1:2')!;
    expect(advertisable([withExt, without, bare], 'external')).toEqual([withExt]);
    expect(advertisable([withExt, without, bare], 'internal')).toEqual([withExt, without, bare]);
  });

  it('drops an invalid external address from a foreign writer and falls back to the registered one', () => {
    const data = parseServerNodeData(Buffer.from(JSON.stringify({ external: { host: '', tcpPort: 0, httpPort: 'x' } })));
    expect(data).toBeDefined();
    expect(data).not.toHaveProperty('external');
    expect(clientAddress(serverInfo('10.0.0.1:1:2', data)!, 'external')).toMatchObject({ host: '10.0.0.1', tcpPort: 1, httpPort: 2 });
  });
});
