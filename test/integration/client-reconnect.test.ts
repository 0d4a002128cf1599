/**
 * Reconnect against a real cluster: the cim-server holding a client is SIGKILLed (no GOAWAY, no FIN
 * handshake from a draining server, the route still lists the user as online). The SDK must notice,
 * back off, clear its stale route entry, log in again through the route (which moves it to the
 * surviving server) and deliver again, with no call from the test. A client closed with close()
 * before the crash must stay gone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_PASSWORD } from '../harness/route-api.ts';
import { createClient, type ChatMessage, type CimClient, type ClientState, type StateChange } from '../../services/client/src/index.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';

let cluster: TestCluster;
const clients: CimClient[] = [];

beforeAll(async () => {
  cluster = await startCluster({ servers: 2, authSecret: 'client-reconnect-secret' });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cluster?.stop();
});

interface Tracked {
  readonly client: CimClient;
  readonly inbox: ChatMessage[];
  readonly states: StateChange[];
}

async function connect(userName: string): Promise<Tracked> {
  const inbox: ChatMessage[] = [];
  const states: StateChange[] = [];
  const client = await createClient({
    routeUrl: cluster.routeUrl,
    userName,
    password: TEST_PASSWORD,
    onMessage: (m) => inbox.push(m),
    // Short backoff: the first attempts may still be routed to the dead server until ZooKeeper drops it.
    backoff: { initialDelayMs: 200, maxDelayMs: 2_000 },
  });
  client.on('state', (s) => states.push(s));
  clients.push(client);
  return { client, inbox, states };
}

function waitForState(tracked: Tracked, to: ClientState, afterIndex: number, timeoutMs = 30_000): Promise<StateChange> {
  const error = new Error(`${tracked.client.userName} did not reach ${to}`);
  return new Promise((resolve, reject) => {
    const existing = tracked.states.slice(afterIndex).find((s) => s.to === to);
    if (existing) {
      resolve(existing);
      return;
    }
    const timer = setTimeout(() => {
      error.message += `; states: ${JSON.stringify(tracked.states)}`;
      reject(error);
    }, timeoutMs);
    const onState = (s: StateChange): void => {
      if (s.to !== to) return;
      clearTimeout(timer);
      tracked.client.off('state', onState);
      resolve(s);
    };
    tracked.client.on('state', onState);
  });
}

const httpPortOf = (t: Tracked) => t.client.info().server!.httpPort;

describe('SDK reconnect on a real cluster', () => {
  it('survives a SIGKILL of its server without any call from the test, and a closed client stays gone', async () => {
    // Round robin over two servers: four users give two per server.
    const users = [await connect('rc-alice'), await connect('rc-bob'), await connect('rc-carol'), await connect('rc-dave')];
    const victimPort = httpPortOf(users[0]!);
    const onVictim = users.filter((u) => httpPortOf(u) === victimPort);
    const survivors = users.filter((u) => httpPortOf(u) !== victimPort);
    expect(onVictim).toHaveLength(2);
    expect(survivors.length).toBeGreaterThan(0);
    const [moving, closing] = onVictim as [Tracked, Tracked];
    const observer = survivors[0]!;

    // Closed before the crash: the crash must not bring it back (CIM's Java SDK would reconnect).
    const closedId = closing.client.userId!;
    await closing.client.close();
    const closingStatesAfterClose = closing.states.length;

    const mark = moving.states.length;
    const victim = cluster.servers.find((s) => s.httpPort === victimPort)!;
    await victim.kill('SIGKILL');

    const lost = await waitForState(moving, 'reconnecting', mark);
    expect(lost.from).toBe('ready');
    expect(lost.attempt).toBe(1);
    await waitForState(moving, 'ready', mark);
    expect(httpPortOf(moving)).not.toBe(victimPort);
    expect(moving.client.info().reconnects).toBeGreaterThanOrEqual(1);

    // Delivery works both ways again, with the same user id.
    await observer.client.sendPrivate(moving.client.userId!, 'welcome back');
    await expect.poll(() => moving.inbox.map((m) => m.text)).toContain('welcome back');
    await moving.client.sendGroup('I am back');
    await expect.poll(() => observer.inbox.map((m) => m.text)).toContain('I am back');

    // The closed client: no state change since close(), not online, still closed.
    expect(closing.client.state).toBe('closed');
    expect(closing.states.length).toBe(closingStatesAfterClose);
    const online = await observer.client.onlineUsers();
    expect(online.map((u) => u.userId)).toContain(moving.client.userId);
    expect(online.map((u) => u.userId)).not.toContain(closedId);
    // Not delivered live: stored in its inbox (SENT with online false) for its next login.
    await expect(observer.client.sendPrivate(closedId, 'still there?')).resolves.toMatchObject({ online: false });
  });

  it('moves to another server when its server shuts down gracefully (GOAWAY), without any call from the test', async () => {
    // The server killed above leaves the route's list when its ZooKeeper session expires; a new server
    // is then added so that two are live again.
    await cluster.waitForServers(1);
    await cluster.addServer();
    await cluster.waitForServers(2);
    const mover = await connect('rc-gina');
    const other = await connect('rc-hank');
    const live = cluster.servers.filter((s) => s.process.child.exitCode === null && s.process.child.signalCode === null);
    const draining = live.find((s) => s.httpPort === httpPortOf(mover))!;
    const mark = mover.states.length;
    await draining.kill('SIGTERM');

    const lost = await waitForState(mover, 'reconnecting', mark);
    expect(lost.reason).toMatch(/^server is going away/);
    await waitForState(mover, 'ready', mark);
    expect(httpPortOf(mover)).not.toBe(draining.httpPort);
    await other.client.sendPrivate(mover.client.userId!, 'after drain');
    await expect.poll(() => mover.inbox.map((m) => m.text)).toContain('after drain');
  });
});
