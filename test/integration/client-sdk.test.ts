/**
 * The SDK against a real cluster (redis-server, ZooKeeper, 2 cim-servers, cim-route as processes,
 * auth enabled so the route's token is exercised): private and group messages between three clients
 * in one process, over WebSocket and TCP, and close() logging out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_PASSWORD } from '../harness/route-api.ts';
import { createClient, type ChatMessage, type CimClient, type ClientOptions } from '../../services/client/src/index.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';

let cluster: TestCluster;
const clients: CimClient[] = [];

beforeAll(async () => {
  cluster = await startCluster({ servers: 2, authSecret: 'client-sdk-test-secret' });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cluster?.stop();
});

async function connect(userName: string, extra: Partial<ClientOptions> = {}): Promise<{ client: CimClient; inbox: ChatMessage[] }> {
  const inbox: ChatMessage[] = [];
  const client = await createClient({ routeUrl: cluster.routeUrl, userName, password: TEST_PASSWORD, onMessage: (m) => inbox.push(m), ...extra });
  clients.push(client);
  return { client, inbox };
}

const texts = (inbox: ChatMessage[]) => inbox.map((m) => `${m.from.userName}:${m.text}`);

describe('SDK clients on a real cluster', () => {
  it('exchange private and group messages between three clients across both servers', async () => {
    const alice = await connect('sdk-alice');
    const bob = await connect('sdk-bob', { transport: 'tcp' });
    const carol = await connect('sdk-carol');
    const servers = new Set([alice, bob, carol].map(({ client }) => client.info().server?.httpPort));
    expect(servers.size).toBe(2); // round robin: both servers are used, so delivery crosses servers

    await alice.client.sendPrivate(bob.client.userId!, 'hi bob');
    await bob.client.sendPrivate('sdk-carol', 'hi carol');
    await carol.client.sendPrivate(alice.client.userId!, 'hi alice');
    await expect.poll(() => texts(bob.inbox)).toEqual(['sdk-alice:hi bob']);
    await expect.poll(() => texts(carol.inbox)).toEqual(['sdk-bob:hi carol']);
    await expect.poll(() => texts(alice.inbox)).toEqual(['sdk-carol:hi alice']);

    await bob.client.sendGroup('hello everyone');
    await expect.poll(() => texts(alice.inbox)).toContain('sdk-bob:hello everyone');
    await expect.poll(() => texts(carol.inbox)).toContain('sdk-bob:hello everyone');
    expect(texts(bob.inbox)).not.toContain('sdk-bob:hello everyone'); // not to the sender

    const received = bob.inbox[0]!;
    expect(received).toMatchObject({ from: { userId: alice.client.userId, userName: 'sdk-alice' }, to: bob.client.userId, offline: false });
    expect(received.msgId).toBeTypeOf('string');

    const online = await alice.client.onlineUsers();
    expect(online).toEqual(expect.arrayContaining([alice, bob, carol].map(({ client }) => ({ userId: client.userId, userName: client.userName }))));
  });

  it('stores a private message to an offline user (SENT, online false) until its next login; refuses an unknown id (7300)', async () => {
    const dave = await connect('sdk-dave');
    const ghost = await connect('sdk-ghost');
    const ghostId = ghost.client.userId!;
    await ghost.client.close();
    const sent = await dave.client.sendPrivate(ghostId, 'are you there?');
    expect(sent).toMatchObject({ online: false, seq: expect.any(Number) });
    const receipts: string[] = [];
    dave.client.on('receipt', (r) => receipts.push(`${r.status}:${r.msgId}`));
    const back = await connect('sdk-ghost', { userId: ghostId });
    await expect.poll(() => back.inbox.map((m) => `${texts([m])[0]}/${m.replay}/${m.msgId}`)).toEqual([`sdk-dave:are you there?/true/${sent.msgId}`]);
    // Its ack reaches the sender as a delivered receipt; the message is gone from the inbox.
    await expect.poll(() => receipts).toEqual([`delivered:${sent.msgId}`]);
    await expect(dave.client.sendPrivate(9_999_999_999, 'nobody')).rejects.toMatchObject({ code: 'CIM_ERR_CLIENT_RECEIVER_UNKNOWN', serverCode: '7300' });
  });

  it('logs out on close(), so the same user can log in again at once', async () => {
    const first = await connect('sdk-erin');
    const userId = first.client.userId!;
    await first.client.close();
    expect(first.client.state).toBe('closed');
    const online = await (await connect('sdk-frank')).client.onlineUsers();
    expect(online.map((u) => u.userId)).not.toContain(userId);
    // No "5000 repeat login": /offLine with the token cleared the session.
    const again = await connect('sdk-erin');
    expect(again.client.userId).toBe(userId);
    expect(again.client.state).toBe('ready');
  });
});
