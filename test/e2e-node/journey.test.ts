/**
 * The user journey on a real node, with the commands a user types: helm install the operator → kubectl apply the
 * README's example → chat through `kubectl port-forward` → ZooKeeper and Redis lose a pod → scale → a server pod with
 * clients dies → a new server image rolls out → kubectl delete → helm uninstall. Every message is counted.
 * On failure, logs, pod logs and events go to test-artifacts/ (see harness/artifacts.ts).
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from '../e2e/harness/control-plane.ts';
import { waitFor } from '../e2e/harness/processes.ts';
import { saveArtifacts } from './harness/artifacts.ts';
import { ChatUser } from './harness/chat.ts';
import { cimStatus, componentSelector, pods, podTimeline, redisCli, remaining, serverConnections, waitClusterReady, waitPodsReady, zkMode } from './harness/cluster-checks.ts';
import { cliFor } from './harness/commands.ts';
import { portForward, type PortForward } from './harness/port-forward.ts';
import { logDir, nodeExec, nodeExecNet, sendBoth } from './harness/journey-support.ts';

const NS = 'im';
const NAME = 'chat';
const OPERATOR_NS = 'cim-system';
const cli = cliFor(inject('nodeBinDir'), inject('nodeAdminKubeconfig'));
const sel = (c: string) => componentSelector(NAME, c);
const timings: Record<string, number> = {};
const users: ChatUser[] = [];
let pf: PortForward | undefined;
let alice: ChatUser;
let bob: ChatUser;
let failed = false;

const timed = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
  const t = Date.now();
  try {
    return await fn();
  } finally {
    timings[label] = Date.now() - t;
  }
};
/** A second CimCluster beside the journey's, in a namespace of its own name, the way a user applies one. */
const applyCluster = async (name: string, spec: Record<string, unknown>) => {
  await cli.kubectl(['create', 'namespace', name]);
  await cli.kubectl(['apply', '-n', name, '-f', '-'], { input: JSON.stringify({ apiVersion: 'cim.dev/v1alpha1', kind: 'CimCluster', metadata: { name }, spec }) });
};
const chatUser = async (name: string) => {
  const u = await ChatUser.start(name, { route: pf!.url, user: name, via: 'route', logDir: logDir() });
  users.push(u);
  return u;
};

describe('the user journey on a real node', () => {
  beforeAll(() => {
    process.stderr.write(`e2e-node: node-up timings ${JSON.stringify(inject('nodeTimings'))}\n`);
  });
  // Saved at the first failure, before later steps delete what failed (the CimCluster, its pods and their logs).
  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail' || failed) return;
    failed = true;
    const dir = await saveArtifacts(cli, { ...inject('nodeLogDirs'), chat: logDir() }, 'journey');
    process.stderr.write(`e2e-node: artifacts of "${ctx.task.name}" saved to ${dir}\n`);
  });
  afterAll(async () => {
    for (const u of users) await u.stop();
    await pf?.stop();
    process.stderr.write(`e2e-node: journey timings ${JSON.stringify(timings)}\n`);
  });

  it('helm install: the operator runs in-cluster and elects a leader through its ServiceAccount', async () => {
    await timed('helmInstallMs', () => cli.helm(['install', 'cim-operator', join(REPO_ROOT, 'charts/cim-operator'), '-n', OPERATOR_NS, '--create-namespace', '--wait', '--timeout', '5m']));
    const operators = await waitPodsReady(cli, OPERATOR_NS, 'app.kubernetes.io/name=cim-operator', 2, 120_000);
    const holder = await waitFor('the operator Lease held by an operator pod', async () => {
      const out = await cli.kubectl(['get', 'lease', 'cim-operator', '-n', OPERATOR_NS, '-o', 'jsonpath={.spec.holderIdentity}'], { allowFail: true });
      return operators.some((p) => p.name === out.trim()) ? out.trim() : undefined;
    }, { timeoutMs: 60_000 });
    expect(operators.map((p) => p.name)).toContain(holder);
  });

  it('kubectl apply -f examples/cimcluster.yaml: the CimCluster becomes Ready with every pod Running', async () => {
    await cli.kubectl(['create', 'namespace', NS]);
    await cli.kubectl(['apply', '-n', NS, '-f', join(REPO_ROOT, 'examples/cimcluster.yaml')]);
    await timed('clusterReadyMs', async () => {
      await waitClusterReady(cli, NS, NAME);
      await waitPodsReady(cli, NS, sel('redis'), 1);
      await waitPodsReady(cli, NS, sel('zookeeper'), 3);
      await waitPodsReady(cli, NS, sel('cim-server'), 2);
      await waitPodsReady(cli, NS, sel('cim-route'), 1);
    });
    // Seconds after the first pod's creation: where a slow Ready went (printed on every run, kept in the log).
    process.stderr.write(`e2e-node: pod timeline ${JSON.stringify(await podTimeline(cli, NS))}\n`);
  });

  it('two `cim chat` users exchange private and group messages through kubectl port-forward', async () => {
    pf = await portForward(inject('nodeBinDir'), inject('nodeAdminKubeconfig'), NS, `svc/${NAME}-route`, 8083, logDir());
    alice = await chatUser('alice');
    bob = await chatUser('bob');
    await sendBoth(alice, bob, 'hello', 5);
    await alice.send('group hello from alice', 'group hello from alice');
    await waitFor('bob got the group message', () => bob.count('group hello') === 1);
    expect(bob.count('hello-a-')).toBe(5);
    expect(alice.count('hello-b-')).toBe(5);
  });

  it('ZooKeeper: 3 members form a quorum and survive losing one; chat keeps working', async () => {
    const modes = async () => (await Promise.all([0, 1, 2].map((i) => zkMode(cli, NS, `${NAME}-zk-${i}`)))).sort().join(',');
    await waitFor('ZooKeeper quorum (leader + 2 followers)', async () => (await modes()) === 'follower,follower,leader', { timeoutMs: 60_000 });
    const leader = (await Promise.all([0, 1, 2].map(async (i) => ({ pod: `${NAME}-zk-${i}`, mode: await zkMode(cli, NS, `${NAME}-zk-${i}`) })))).find((m) => m.mode === 'leader')!;
    await cli.kubectl(['delete', 'pod', '-n', NS, leader.pod, '--wait=false']);
    await sendBoth(alice, bob, 'zk', 3, 120_000);
    await waitPodsReady(cli, NS, sel('zookeeper'), 3);
    let seen = '';
    await waitFor('quorum again', async () => (seen = await modes()) === 'follower,follower,leader', { timeoutMs: 120_000 }).catch((err: Error) => {
      throw new Error(`${err.message}; the members' modes were "${seen}" (deleted: ${leader.pod})`, { cause: err });
    });
    await sendBoth(alice, bob, 'zk-after', 3);
  });

  it('Redis: data survives deleting the Redis pod', async () => {
    const redisPod = `${NAME}-redis-0`;
    await redisCli(cli, NS, redisPod, ['SET', 'e2e-node-probe', 'kept']);
    const before = (await pods(cli, NS, sel('redis')))[0]!.uid;
    await cli.kubectl(['delete', 'pod', '-n', NS, redisPod]);
    await waitPodsReady(cli, NS, sel('redis'), 1, 180_000, (p) => p.uid !== before);
    expect(await redisCli(cli, NS, redisPod, ['GET', 'e2e-node-probe'])).toBe('kept');
    // Accounts are in Redis: the same name logs in again with the same id.
    const again = await ChatUser.start('alice-again', { route: pf!.url, user: 'alice-again', via: 'route', logDir: logDir() });
    const firstId = again.userId;
    await again.stop();
    const twice = await ChatUser.start('alice-again', { route: pf!.url, user: 'alice-again', via: 'route', logDir: logDir() });
    expect(twice.userId).toBe(firstId);
    await twice.stop();
    await sendBoth(alice, bob, 'redis-after', 3, 120_000);
  });

  it('kubectl scale --replicas=3: the third server registers and takes new logins', async () => {
    await cli.kubectl(['scale', `cimcluster/${NAME}`, '-n', NS, '--replicas=3']);
    await timed('scaleMs', () => waitPodsReady(cli, NS, sel('cim-server'), 3));
    await waitFor('status.server.readyReplicas 3', async () => (await cimStatus(cli, NS, NAME)).server?.readyReplicas === 3);
    // Round robin over three servers: three new logins put at least one user on the new server.
    const extra = [await chatUser('carol'), await chatUser('dave'), await chatUser('erin')];
    await waitFor('a client on the third server', async () => (await serverConnections(cli, NS, `${NAME}-server-2`)) >= 1, { timeoutMs: 30_000 });
    await sendBoth(extra[0]!, extra[2]!, 'scaled', 3);
  });

  it('a server pod with connected clients dies: they reconnect and every message sent meanwhile arrives', async () => {
    const counts = await Promise.all([0, 1, 2].map((i) => serverConnections(cli, NS, `${NAME}-server-${i}`)));
    const victim = `${NAME}-server-${counts.indexOf(Math.max(...counts))}`;
    expect(Math.max(...counts)).toBeGreaterThan(0);
    const reconnectsBefore = users.reduce((n, u) => n + u.reconnects(), 0);
    await cli.kubectl(['delete', 'pod', '-n', NS, victim, '--wait=false']);
    await timed('failoverMs', () => sendBoth(alice, bob, 'failover', 10, 180_000, 300));
    await waitFor('the clients of the dead server reconnected', () => users.reduce((n, u) => n + u.reconnects(), 0) > reconnectsBefore, { timeoutMs: 60_000 });
    await waitPodsReady(cli, NS, sel('cim-server'), 3);
  });

  it('a new server image (cim-server:v2) replaces every server one by one; chat keeps working, nothing is lost', async () => {
    nodeExec('ctr', ['-n', 'k8s.io', 'images', 'tag', '--force', 'docker.io/library/cim-server:0.1.0', 'docker.io/library/cim-server:v2']);
    const before = await pods(cli, NS, sel('cim-server'));
    await cli.kubectl(['patch', 'cimcluster', NAME, '-n', NS, '--type', 'merge', '-p', '{"spec":{"server":{"image":"cim-server:v2"}}}']);
    let minReady = 3;
    const sampler = setInterval(() => {
      void pods(cli, NS, sel('cim-server')).then((ps) => (minReady = Math.min(minReady, ps.filter((p) => p.ready && !p.deleting).length)), () => undefined);
    }, 1000);
    try {
      await timed('rolloutMs', () =>
        Promise.all([
          sendBoth(alice, bob, 'rollout', 20, 300_000, 1000),
          waitPodsReady(cli, NS, sel('cim-server'), 3, 300_000, (p) => p.image.endsWith('cim-server:v2') && !before.some((b) => b.uid === p.uid)),
        ]),
      );
    } finally {
      clearInterval(sampler);
    }
    expect(minReady).toBeGreaterThanOrEqual(2);
    await sendBoth(alice, bob, 'after-rollout', 3);
  });

  it('spec.server.external NodePort: each server is reachable on the node\'s address (from inside the node)', async () => {
    const EDGE = 'edge';
    await applyCluster(EDGE, { zookeeper: { replicas: 1 }, server: { replicas: 1, external: { type: 'NodePort' } } });
    try {
      const status = await waitClusterReady(cli, EDGE, EDGE);
      const addr = await waitFor('status.server.external', async () => (await cimStatus(cli, EDGE, EDGE)).server?.external?.[0], { timeoutMs: 60_000 });
      expect(status.server?.readyReplicas).toBe(1);
      expect(addr.host).toBe(inject('nodeIp'));
      // The node's own namespace is the only place a NodePort of this sandbox exists.
      const inNode = ['nsenter', '-t', String(inject('nodeInitPid')), '-n', '--'];
      const health = nodeExecNet(inNode, [process.execPath, '-e', `fetch('http://${addr.host}:${addr.httpPort}/healthz').then(r=>console.log(r.status))`]);
      expect(health.trim()).toBe('200');
      const routeIp = (await cli.kubectl(['get', 'svc', `${EDGE}-route`, '-n', EDGE, '-o', 'jsonpath={.spec.clusterIP}'])).trim();
      const route = `http://${routeIp}:8083`;
      const x = await ChatUser.start('xavier', { route, user: 'xavier', via: 'direct', logDir: logDir(), wrapper: inNode });
      const y = await ChatUser.start('yvonne', { route, user: 'yvonne', via: 'direct', logDir: logDir(), wrapper: inNode });
      users.push(x, y);
      expect(x.lines.find((l) => l.startsWith('* logged in'))).toContain(`${addr.host}:${addr.httpPort}`);
      await sendBoth(x, y, 'nodeport', 3);
    } finally {
      await cli.kubectl(['delete', 'cimcluster', EDGE, '-n', EDGE, '--wait=true', '--timeout=120s'], { allowFail: true });
    }
  });

  it('spec.redis.cluster: a managed 3-shard Redis Cluster forms on real pods and carries chat', async () => {
    const SHARDS = 'shards';
    // Redis on volumes (the default): a node deleted below must come back as itself (nodes.conf on its volume).
    await applyCluster(SHARDS, { redis: { cluster: { shards: 3 } }, zookeeper: { replicas: 1, storage: { ephemeral: true } }, server: { replicas: 2 } });
    let shardsPf: PortForward | undefined;
    try {
      await timed('redisClusterReadyMs', () => waitClusterReady(cli, SHARDS, SHARDS));
      const redis = (await cimStatus(cli, SHARDS, SHARDS)).redis;
      expect(redis?.endpoint).toMatch(/^redis-cluster:\/\/shards-redis-0\.shards-redis\.shards\.svc:6379,/);
      const info = await redisCli(cli, SHARDS, `${SHARDS}-redis-0`, ['cluster', 'info']);
      expect(info).toMatch(/cluster_state:ok/);
      expect(info).toMatch(/cluster_known_nodes:3\b/);
      expect(info).toMatch(/cluster_slots_assigned:16384\b/);
      shardsPf = await portForward(inject('nodeBinDir'), inject('nodeAdminKubeconfig'), SHARDS, `svc/${SHARDS}-route`, 8083, logDir());
      const carol = await ChatUser.start('carol', { route: shardsPf.url, user: 'carol', via: 'route', logDir: logDir() });
      const dave = await ChatUser.start('dave', { route: shardsPf.url, user: 'dave', via: 'route', logDir: logDir() });
      users.push(carol, dave);
      await sendBoth(carol, dave, 'sharded', 5);
      // Their inboxes and routes are spread over the shards: every primary holds keys.
      const keys = await Promise.all([0, 1, 2].map(async (i) => Number(await redisCli(cli, SHARDS, `${SHARDS}-redis-${i}`, ['dbsize']))));
      expect(keys.every((n) => n > 0), `keys per shard: ${keys.join(', ')}`).toBe(true);

      // A node's pod is deleted (a drain, a rollout): it comes back with a new IP, rejoins as itself, and the
      // cluster serves every slot again with its keys.
      const victim = `${SHARDS}-redis-1`;
      const shardSel = componentSelector(SHARDS, 'redis');
      const before = (await pods(cli, SHARDS, shardSel)).find((p) => p.name === victim)!.uid;
      await cli.kubectl(['delete', 'pod', '-n', SHARDS, victim]);
      await timed('redisNodeBackMs', async () => {
        await waitPodsReady(cli, SHARDS, shardSel, 3, 180_000, (p) => p.name !== victim || p.uid !== before);
        let last = '';
        await waitFor('every node: cluster_state ok, 3 known nodes', async () => {
          const infos = await Promise.all([0, 1, 2].map((i) => redisCli(cli, SHARDS, `${SHARDS}-redis-${i}`, ['cluster', 'info'])));
          last = infos.map((i) => /cluster_state:\w+/.exec(i)?.[0] + ' ' + /cluster_known_nodes:\d+/.exec(i)?.[0]).join('; ');
          return infos.every((i) => /cluster_state:ok/.test(i) && /cluster_known_nodes:3\b/.test(i));
        }, { timeoutMs: 120_000 }).catch((err: Error) => {
          throw new Error(`${err.message}; last: ${last}`, { cause: err });
        });
      });
      expect(Number(await redisCli(cli, SHARDS, victim, ['dbsize'])), 'the restarted node kept its keys').toBeGreaterThan(0);
      await sendBoth(carol, dave, 'sharded-after', 3, 120_000);
    } finally {
      await shardsPf?.stop();
      await cli.kubectl(['delete', 'cimcluster', SHARDS, '-n', SHARDS, '--wait=true', '--timeout=120s'], { allowFail: true });
    }
  });

  it('kubectl delete cimcluster: every child is gone', async () => {
    for (const u of users.splice(0)) await u.stop();
    await pf?.stop();
    pf = undefined;
    await cli.kubectl(['delete', 'cimcluster', NAME, '-n', NS, '--wait=true', '--timeout=120s']);
    const kinds = 'statefulsets,deployments,replicasets,services,secrets,poddisruptionbudgets,pods,configmaps';
    await waitFor('no children left', async () => (await remaining(cli, NS, kinds)).filter((n) => n !== 'configmap/kube-root-ca.crt').length === 0, {
      timeoutMs: 180_000,
      intervalMs: 1000,
    });
    // Claims are kept on purpose (persistentVolumeClaimRetentionPolicy Retain): the data outlives the cluster.
    process.stderr.write(`e2e-node: kept after delete: ${(await remaining(cli, NS, 'pvc')).join(' ')}\n`);
  });

  it('helm uninstall: the operator is gone', async () => {
    await cli.helm(['uninstall', 'cim-operator', '-n', OPERATOR_NS, '--wait', '--timeout', '2m']);
    await waitFor('no operator pods or deployment', async () => (await remaining(cli, OPERATOR_NS, 'deployments,pods,services,serviceaccounts')).filter((n) => n !== 'serviceaccount/default').length === 0, {
      timeoutMs: 120_000,
      intervalMs: 1000,
    });
  });
});
