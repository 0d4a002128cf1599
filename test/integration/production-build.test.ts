/**
 * What the images run: the production tsconfig compiles, and the compiled `cim` (dist layout, .js
 * imports, proto/ found from dist/) serves a login and a message end to end.
 */
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { Command } from '../../services/common/src/codec.ts';
import { startProcess, type ManagedProcess } from '../../services/common/src/infra/child.ts';
import { waitUntil } from '../../services/common/src/infra/ports.ts';
import { connectWs, type RawClient } from '../harness/raw-client.ts';
import { routeApi } from '../harness/route-api.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
// Inside the repository (git-ignored) so that the compiled code resolves node_modules and proto/ as in an image.
const outDir = `${root}.cache/dist-smoke-${process.pid}`;
let up: ManagedProcess | undefined;
const clients: RawClient[] = [];

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await up?.stop('SIGKILL');
  await rm(outDir, { recursive: true, force: true });
});

describe('the production build', () => {
  it('compiles with tsconfig.build.json and runs a cluster that delivers a message', async () => {
    await promisify(execFile)(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', `${root}tsconfig.build.json`, '--outDir', outDir], { cwd: root });
    let output = '';
    up = startProcess('cim up (dist)', process.execPath, [`${outDir}/services/cli/src/main.js`, 'up', '--embedded', '--auth', 'cim', '--route-port', '0', '--server-tcp-port', '0', '--server-http-port', '0'], {
      onLine: (line) => (output += `${line}\n`),
    });
    const routeUrl = await waitUntil('the compiled cim up to report its route', () => /cim-route\s+(http:\/\/\S+)\s+ready/.exec(output)?.[1], 30_000);
    const api = routeApi(routeUrl);
    const users = [];
    for (const name of ['prod-a', 'prod-b']) {
      const { userId } = (await api.register(name)).dataBody;
      const server = (await api.login(userId, name, 2)).dataBody!;
      const client = await connectWs(`ws://${server.ip}:${server.httpPort}${server.wsPath}`);
      clients.push(client);
      client.login(userId, name);
      expect((await client.next((f) => f.cmd === Command.LOGIN_RESPONSE)).properties['code']).toBe('9000');
      users.push({ userId, client });
    }
    expect((await api.p2p(users[0]!.userId, users[1]!.userId, 'from dist')).code).toBe('9000');
    await users[1]!.client.next((f) => f.cmd === Command.MESSAGE && f.reqMsg === 'from dist');
    up.child.kill('SIGINT');
    expect(await up.exited).toBe(0);
    expect(output).toContain('stopped.');
  });
});
