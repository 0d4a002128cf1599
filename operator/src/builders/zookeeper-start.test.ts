/**
 * The member's start command, run in bash with a stand-in `getent` (answers from a list, one per call) and a
 * stand-in entrypoint: a replaced member starts only once its own name resolves to its new address.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeCluster } from '../testing.ts';
import { buildZookeeperStatefulSet, ZOOKEEPER_AWAIT_OWN_NAME } from './zookeeper.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Runs the wait with `answers` as getent's successive outputs (the last one repeats); returns the lookups made. */
function awaitOwnName(answers: string[], waitSeconds: number): { lookups: number; stderr: string; status: number | null } {
  const dir = mkdtempSync(join(tmpdir(), 'cim-zk-start-'));
  dirs.push(dir);
  const answersFile = join(dir, 'answers');
  writeFileSync(answersFile, answers.join('\n') + '\n');
  const getent = join(dir, 'getent');
  // Prints answer n (n = number of calls so far, capped at the last) and records the call.
  writeFileSync(
    getent,
    `#!/bin/bash\n[ "$1 $2" = "hosts zk-1.zk-hs.ns.svc" ] || exit 9\necho call >> ${dir}/calls\nn=$(wc -l < ${dir}/calls)\nline=$(sed -n "\${n}p" ${answersFile}); [ -n "$line" ] || line=$(tail -n 1 ${answersFile})\n[ "$line" = none ] && exit 2\necho "$line"\n`,
  );
  chmodSync(getent, 0o755);
  const result = spawnSync('bash', ['-c', ZOOKEEPER_AWAIT_OWN_NAME], {
    env: { PATH: `${dir}:${process.env['PATH']}`, HOSTNAME: 'zk-1', ZOO_DOMAIN: 'zk-hs.ns.svc', POD_IP: '10.0.0.12', ZOO_OWN_NAME_WAIT: String(waitSeconds) },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'], // bash reads ~/.bashrc when its stdin is a socket
  });
  const lookups = readFileSync(join(dir, 'calls'), 'utf8').split('\n').filter(Boolean).length;
  return { lookups, stderr: result.stderr, status: result.status };
}

describe('ZooKeeper member start', () => {
  it('waits while its own name still resolves to the replaced pod, then starts', () => {
    const run = awaitOwnName(['10.0.0.10  zk-1.zk-hs.ns.svc.cluster.local', 'none', '10.0.0.12  zk-1.zk-hs.ns.svc.cluster.local'], 10);
    expect(run).toEqual({ lookups: 3, stderr: '', status: 0 });
  });

  it('starts at once when the name is already right', () => {
    expect(awaitOwnName(['10.0.0.12  zk-1.zk-hs.ns.svc.cluster.local'], 10)).toEqual({ lookups: 1, stderr: '', status: 0 });
  });

  it('starts anyway, and says so, when the name stays wrong past the limit', () => {
    const run = awaitOwnName(['10.0.0.10  zk-1.zk-hs.ns.svc.cluster.local'], 1);
    expect(run.lookups).toBe(2); // two lookups per second of ZOO_OWN_NAME_WAIT
    expect(run.status).toBe(0);
    expect(run.stderr).toBe('zk-1.zk-hs.ns.svc does not resolve to 10.0.0.12 yet (got 10.0.0.10); starting anyway\n');
  });

  it('runs before the entrypoint, with the variables it reads set on the container', () => {
    const c = buildZookeeperStatefulSet(makeCluster({ zookeeper: { replicas: 3 } }))!.spec?.template.spec?.containers[0];
    const command = c?.command?.[2] ?? '';
    expect(command.indexOf(ZOOKEEPER_AWAIT_OWN_NAME)).toBeGreaterThan(0);
    expect(command.indexOf(ZOOKEEPER_AWAIT_OWN_NAME)).toBeLessThan(command.indexOf('exec /docker-entrypoint.sh'));
    const env = new Map(c?.env?.map((e) => [e.name, e]));
    expect(env.get('POD_IP')?.valueFrom?.fieldRef?.fieldPath).toBe('status.podIP');
    expect(env.get('ZOO_DOMAIN')?.value).toBe('chat-zk-hs.im.svc');
    expect(env.get('ZOO_OWN_NAME_WAIT')?.value).toBe('60');
  });
});
