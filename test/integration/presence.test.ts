/**
 * Contacts and presence (docs/delivery.md "Contacts and presence"), real processes: route + 2 servers, real
 * Redis and ZooKeeper, password mode. Alice has bob and carol as contacts: she gets exactly one online event
 * when bob logs in, one offline event when he logs out, and carol's offline event when carol's server is
 * SIGKILLed, within the stated bound (ZooKeeper session timeout + one presence sweep). Dave, whom nobody
 * watches and who watches nobody, gets no event. With "only contacts" on, alice refuses dave's message (7360)
 * and takes bob's.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, isCimClientError, type ChatMessage, type CimClient, type ClientOptions, type PresenceEvent } from '../../services/client/src/index.ts';
import { PRESENCE_SWEEP_MS } from '../../services/common/src/contacts/presence.ts';
import { waitUntil } from '../../services/common/src/infra/ports.ts';

const until = (what: string, cond: () => boolean, ms: number) => waitUntil(what, () => (cond() ? true : undefined), ms);
import { startChatProcess } from '../harness/cim-chat-process.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { routeApi } from '../harness/route-api.ts';

const SECRET = 'presence-suite-secret';
/** Groups of up to this many members give their members each other's presence. */
const GROUP_PRESENCE_MAX = 3;
const ZK_SESSION_MS = 2000;
/** Login and logout events are pushed at once; this leaves room for a loaded machine. */
const LIVE_BOUND_MS = 3000;
/** A crash: ZooKeeper drops the server's node after its session timeout, then one sweep, then the push. */
const CRASH_BOUND_MS = ZK_SESSION_MS + 2 * PRESENCE_SWEEP_MS + 3000;

let cluster: TestCluster;
let home: string;
const clients: CimClient[] = [];

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'cim-presence-'));
  cluster = await startCluster({ servers: 2, authSecret: SECRET, auth: 'password', zkSessionTimeoutMs: ZK_SESSION_MS, serverArgs: ['--group-presence-max', String(GROUP_PRESENCE_MAX)] });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await cluster?.stop();
  await rm(home, { recursive: true, force: true });
});

interface User {
  c: CimClient;
  presence: PresenceEvent[];
  got: ChatMessage[];
}

async function connect(userName: string, extra: Partial<ClientOptions> = {}, presence: PresenceEvent[] = []): Promise<User> {
  const got: ChatMessage[] = [];
  const c = await createClient({
    routeUrl: cluster.routeUrl,
    userName,
    password: `${userName}-password`,
    register: true,
    backoff: { initialDelayMs: 100, maxDelayMs: 1_000 },
    onMessage: (m) => void got.push(m),
    ...extra,
  });
  c.on('presence', (p) => void presence.push(p));
  clients.push(c);
  return { c, presence, got };
}

const serverOf = (u: User) => {
  const s = u.c.info().server!;
  return `${s.ip}:${s.cimServerPort}:${s.httpPort}`;
};
const of = (events: readonly PresenceEvent[], userId: number, online: boolean) => events.filter((e) => e.userId === userId && e.online === online).length;

describe('contacts and presence', () => {
  it('pushes online/offline events to contacts only, within the bound, also after a server SIGKILL', async () => {
    const api = routeApi(cluster.routeUrl);
    const bobId = (await api.register('pr-bob', 'pr-bob-password')).dataBody!.userId;
    const carolId = (await api.register('pr-carol', 'pr-carol-password')).dataBody!.userId;
    let alice = await connect('pr-alice');
    const dave = await connect('pr-dave');
    expect(await alice.c.contacts.add(bobId)).toBe(true);
    expect(await alice.c.contacts.add(bobId)).toBe(false);
    expect(await alice.c.contacts.add(carolId)).toBe(true);
    expect((await alice.c.contacts.list()).map((c) => [c.userName, c.online])).toEqual([['pr-bob', false], ['pr-carol', false]]);

    // Login: exactly one online event.
    let started = Date.now();
    const bob = await connect('pr-bob');
    await until('bob online at alice', () => of(alice.presence, bobId, true) === 1, LIVE_BOUND_MS);
    expect(Date.now() - started).toBeLessThan(LIVE_BOUND_MS);
    expect((await alice.c.contacts.list()).find((c) => c.userId === bobId)?.online).toBe(true);
    const online = alice.presence.find((e) => e.userId === bobId)!;
    expect(online).toMatchObject({ userName: 'pr-bob', online: true });
    expect(online.at).toBeGreaterThan(started - 1000);

    // Logout: exactly one offline event.
    started = Date.now();
    await bob.c.close();
    await until('bob offline at alice', () => of(alice.presence, bobId, false) === 1, LIVE_BOUND_MS);
    expect(Date.now() - started).toBeLessThan(LIVE_BOUND_MS);

    // Carol on the other server than alice's, never reconnecting: her server dies with her session.
    const carol = await connect('pr-carol', { retryStrategy: () => null });
    await until('carol online at alice', () => of(alice.presence, carolId, true) === 1, LIVE_BOUND_MS);
    for (let i = 0; i < 4 && serverOf(alice) === serverOf(carol); i++) {
      await alice.c.close();
      alice = await connect('pr-alice', {}, alice.presence);
    }
    expect(serverOf(alice)).not.toBe(serverOf(carol));
    const victim = cluster.servers.find((s) => s.address === serverOf(carol))!;
    expect(victim).toBeDefined();
    started = Date.now();
    await victim.kill('SIGKILL');
    await until('carol offline at alice after the SIGKILL', () => of(alice.presence, carolId, false) === 1, CRASH_BOUND_MS);
    expect(Date.now() - started).toBeLessThan(CRASH_BOUND_MS);
    expect((await alice.c.contacts.list()).find((c) => c.userId === carolId)?.online).toBe(false);
    // Two sweeps more on the surviving server: no second event for the same crash.
    await new Promise((r) => setTimeout(r, 2 * PRESENCE_SWEEP_MS + 500));

    expect({
      bobOnline: of(alice.presence, bobId, true),
      bobOffline: of(alice.presence, bobId, false),
      carolOffline: of(alice.presence, carolId, false),
      dave: dave.presence.length,
      carolOnline: of(alice.presence, carolId, true),
    }).toEqual({ bobOnline: 1, bobOffline: 1, carolOffline: 1, dave: 0, carolOnline: 1 });
  });

  it('"only contacts" refuses a stranger with 7360 and takes a contact\'s message', async () => {
    const alice = await connect('oc-alice');
    const bob = await connect('oc-bob');
    const dave = await connect('oc-dave');
    expect(await alice.c.contacts.add(bob.c.userId!)).toBe(true);
    expect(await alice.c.contacts.onlyContacts()).toBe(false);
    expect(await alice.c.contacts.onlyContacts(true)).toBe(true);
    const STRANGER = 5;
    const CONTACT = 5;
    const refused: string[] = [];
    for (let i = 0; i < STRANGER; i++) {
      await dave.c.sendPrivate(alice.c.userId!, `from dave ${i}`).then(
        () => refused.push('sent'),
        (err: unknown) => refused.push(isCimClientError(err) ? String(err.serverCode) : String(err)),
      );
    }
    for (let i = 0; i < CONTACT; i++) await bob.c.sendPrivate(alice.c.userId!, `from bob ${i}`);
    await until('bob\'s messages at alice', () => alice.got.length >= CONTACT, 5000);
    // Bob is not dave's contact: dave, who did not turn the setting on, still takes alice's message.
    await alice.c.sendPrivate(dave.c.userId!, 'hi dave');
    await until('alice\'s message at dave', () => dave.got.length === 1, 5000);
    expect({
      refused: refused.filter((r) => r === '7360').length,
      fromBob: alice.got.filter((m) => m.from.userId === bob.c.userId).length,
      fromDave: alice.got.filter((m) => m.from.userId === dave.c.userId).length,
    }).toEqual({ refused: STRANGER, fromBob: CONTACT, fromDave: 0 });
  });

  it('members of a small group hear of each other, members of a bigger one do not, outsiders never', async () => {
    const a = await connect('gp-a');
    const c = await connect('gp-c');
    const f = await connect('gp-f');
    const small = await a.c.groups.create('gp-small');
    const big = await a.c.groups.create('gp-big');
    expect(await c.c.groups.join(small.groupId)).toBe(true);
    expect(await c.c.groups.join(big.groupId)).toBe(true);
    // b joins the small group (3 members), d and e the big one (4 > GROUP_PRESENCE_MAX); then all leave.
    const b = await connect('gp-b');
    const d = await connect('gp-d');
    const e = await connect('gp-e');
    expect(await b.c.groups.join(small.groupId)).toBe(true);
    expect(await d.c.groups.join(big.groupId)).toBe(true);
    expect(await e.c.groups.join(big.groupId)).toBe(true);
    const [bId, dId] = [b.c.userId!, d.c.userId!];
    await Promise.all([b.c.close(), d.c.close(), e.c.close()]);
    await until('the small group heard b leave', () => of(a.presence, bId, false) === 1 && of(c.presence, bId, false) === 1, LIVE_BOUND_MS);
    const before = (u: User, id: number) => [of(u.presence, id, true), of(u.presence, id, false)];
    const base = { a: before(a, bId), c: before(c, bId) };

    // d comes and goes (big group: no event), then b (small group: one online, one offline each).
    const d2 = await connect('gp-d');
    await d2.c.close();
    const b2 = await connect('gp-b');
    await until('the small group heard b come', () => of(a.presence, bId, true) === base.a[0]! + 1 && of(c.presence, bId, true) === base.c[0]! + 1, LIVE_BOUND_MS);
    await b2.c.close();
    await until('the small group heard b go', () => of(a.presence, bId, false) === base.a[1]! + 1 && of(c.presence, bId, false) === base.c[1]! + 1, LIVE_BOUND_MS);
    expect({
      aOfB: [of(a.presence, bId, true) - base.a[0]!, of(a.presence, bId, false) - base.a[1]!],
      cOfB: [of(c.presence, bId, true) - base.c[0]!, of(c.presence, bId, false) - base.c[1]!],
      aOfD: a.presence.filter((p) => p.userId === dId).length,
      cOfD: c.presence.filter((p) => p.userId === dId).length,
      outsider: f.presence.length,
    }).toEqual({ aOfB: [1, 1], cOfB: [1, 1], aOfD: 0, cOfD: 0, outsider: 0 });
  });

  it('cim chat: :add, :contacts, and "* NAME is online/offline" lines', async () => {
    const bobId = (await routeApi(cluster.routeUrl).register('cli-bob', 'cli-bob-password')).dataBody!.userId;
    const alice = startChatProcess(['--route', cluster.routeUrl, '--user', 'cli-alice', '--password', 'cli-alice-password', '--history-dir', join(home, 'alice')], home);
    const see = (text: string) => alice.stdout.waitFor(text, 20_000).catch((err: Error) => Promise.reject(new Error(`${err.message}\nstdout:\n${alice.stdout.text}\nstderr:\n${alice.stderr.text}`)));
    await see('* logged in as');
    alice.type(`:add ${bobId}`);
    await see(`* added contact ${bobId}`);
    alice.type(':contacts');
    await see(`cli-bob (userId ${bobId}) offline`);
    const bob = await connect('cli-bob');
    await see('* cli-bob is online');
    await bob.c.close();
    await see('* cli-bob is offline');
    const lines = alice.stdout.text.split('\n');
    expect({ online: lines.filter((l) => l === '* cli-bob is online').length, offline: lines.filter((l) => l === '* cli-bob is offline').length }).toEqual({ online: 1, offline: 1 });
    alice.type(':q!');
    expect(await alice.exited).toBe(0);
  });
});
