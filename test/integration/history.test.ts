/**
 * Server-side history (docs/delivery.md "History"), real processes: route + 2 servers, real Redis and ZooKeeper,
 * password mode. Two users talk over both servers while one server is SIGKILLed; a new device of one of them then
 * pages the conversation backwards and must get exactly the stored messages, each once, in the order the cluster
 * stored them. Only a participant reads a conversation; `cim chat :history` shows it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type CimClient, type HistoryMessage } from '../../services/client/src/index.ts';
import { waitUntil } from '../../services/common/src/infra/ports.ts';
import { startChatProcess } from '../harness/cim-chat-process.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { routeApi } from '../harness/route-api.ts';

const SECRET = 'history-suite-secret';
let cluster: TestCluster;
let home: string;
const clients: CimClient[] = [];

beforeAll(async () => {
  cluster = await startCluster({ servers: 2, authSecret: SECRET, auth: 'password' });
  home = await mkdtemp(join(tmpdir(), 'cim-history-'));
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await cluster?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

async function client(userName: string, onText?: (text: string) => void): Promise<CimClient> {
  const c = await createClient({
    routeUrl: cluster.routeUrl,
    userName,
    password: `${userName}-password`,
    backoff: { initialDelayMs: 100, maxDelayMs: 1_000 },
    ...(onText ? { onMessage: (m) => onText(m.text) } : {}),
  });
  clients.push(c);
  return c;
}

/** Every message of the conversation with `peer`, paging backwards `pageSize` at a time. */
async function allHistory(c: CimClient, peer: number, pageSize: number): Promise<HistoryMessage[]> {
  const all: HistoryMessage[] = [];
  let beforeSeq: number | undefined;
  for (;;) {
    const page = await c.history(peer, { limit: pageSize, ...(beforeSeq !== undefined ? { beforeSeq } : {}) });
    expect(page.enabled).toBe(true);
    if (page.messages.length === 0) return all;
    all.unshift(...page.messages);
    beforeSeq = page.messages[0]!.seq;
  }
}

describe('server-side history', () => {
  it('a new device pages exactly the stored conversation, in order, across a server SIGKILL', async () => {
    const bobTexts: string[] = [];
    const aliceTexts: string[] = [];
    const alice = await client('h-alice', (t) => aliceTexts.push(t));
    const bob = await client('h-bob', (t) => bobTexts.push(t));
    const sent: string[] = [];
    const talk = async (round: string, n: number) => {
      for (let i = 0; i < n; i++) {
        const [from, to, text] = i % 3 === 2 ? [bob, alice, `${round}:bob#${i}`] : [alice, bob, `${round}:alice#${i}`];
        await from.sendPrivate(to.userId!, text);
        sent.push(text);
      }
    };
    await talk('before', 30);
    // The fault: one server dies with its clients; they come back on the other (or a new) server.
    await cluster.servers[0]!.kill('SIGKILL');
    await cluster.addServer();
    await waitUntil('both back', () => (alice.state === 'ready' && bob.state === 'ready' ? true : undefined), 30_000, 20);
    await talk('after', 30);
    await waitUntil('every live message', () => (aliceTexts.length + bobTexts.length >= sent.length ? true : undefined), 30_000, 20);

    // A new device of bob: nothing local, only the server's history.
    await bob.close();
    const bobPhone = await client('h-bob');
    const history = await allHistory(bobPhone, alice.userId!, 7);
    const texts = history.map((m) => m.text);
    console.log(`history-counts ${JSON.stringify({ sent: sent.length, paged: texts.length, distinct: new Set(texts).size })}`);
    expect(texts).toEqual(sent); // exactly the stored messages, each once, in the order they were sent one by one
    expect(history.map((m) => m.seq)).toEqual(Array.from({ length: sent.length }, (_, i) => i + 1));
    for (const m of history) {
      const fromAlice = m.text.includes(':alice#');
      expect([m.from.userId, m.to]).toEqual(fromAlice ? [alice.userId, bobPhone.userId] : [bobPhone.userId, alice.userId]);
    }
    // Both sides read the same conversation.
    expect((await allHistory(alice, bobPhone.userId!, 50)).map((m) => m.msgId)).toEqual(history.map((m) => m.msgId));
  });

  it('only a participant reads a conversation: no token, a stranger\'s token, another user\'s id are refused', async () => {
    const api = routeApi(cluster.routeUrl);
    const alice = await client('h-alice2');
    const bob = await client('h-bob2');
    await alice.sendPrivate(bob.userId!, 'secret between us');
    const mallory = await client('h-mallory');
    expect((await mallory.history(alice.userId!)).messages).toEqual([]); // her own (empty) conversation with alice

    // A second stranger through the raw API (mallory's session holds her login), to send hand-made bodies.
    const reg = await api.register('h-eve', 'h-eve-password');
    const login = await api.login(reg.dataBody.userId, 'h-eve', 2, 'h-eve-password');
    const token = login.dataBody!.token as string;
    const ask = async (body: object) => (await fetch(`${cluster.routeUrl}/history`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json() as Promise<{ code: string; dataBody: unknown }>;
    expect((await ask({ userId: alice.userId, peerId: bob.userId })).code).toBe('9300'); // no token
    expect((await ask({ userId: alice.userId, peerId: bob.userId, token })).code).toBe('9300'); // eve's token, alice's id
    const own = await ask({ userId: reg.dataBody.userId, peerId: bob.userId, token });
    expect(own).toMatchObject({ code: '9000', dataBody: { enabled: true, messages: [] } });
    // Bad bodies are refused by the schema, never a 500.
    for (const bad of [{}, { userId: 'x', peerId: 1 }, { userId: 1, peerId: 1, limit: 1000 }, { userId: 1, peerId: 1, beforeSeq: 0 }]) {
      expect((await ask({ ...bad, token })).code).toBe('3000');
    }
    expect((await bob.history(alice.userId!)).messages.map((m) => m.text)).toEqual(['secret between us']);
  });

  it('cim chat :history shows the server\'s copy of a conversation', async () => {
    const alice = await client('h-alice3');
    const bob = await client('h-bob3');
    for (let i = 0; i < 5; i++) await alice.sendPrivate(bob.userId!, `line ${i}`);
    await bob.close();
    const chat = startChatProcess(['--route', cluster.routeUrl, '--user', 'h-bob3', '--password', 'h-bob3-password', '--history-dir', home], home);
    await waitUntil('cim chat to log in', () => (chat.stdout.text.includes('* logged in as') ? true : undefined), 15_000, 10);
    chat.type(`:history ${alice.userId} 3`);
    // Its inbox replay prints the same texts as "(offline)" messages: count only `:history`'s "#seq" lines.
    const historyLines = () => chat.stdout.text.split('\n').filter((l) => / #\d+ h-alice3: line \d/.test(l));
    await waitUntil('three history lines', () => (historyLines().length >= 3 ? true : undefined), 15_000, 10);
    const lines = historyLines();
    expect(lines.map((l) => l.replace(/^.*: /, '')), chat.stdout.text).toEqual(['line 2', 'line 3', 'line 4']);
    chat.type(':q!');
    expect(await chat.exited).toBe(0);
  });
});
