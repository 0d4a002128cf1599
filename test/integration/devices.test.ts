/**
 * Several devices per user (docs/delivery.md "Several devices"), real processes: route + 2 servers, real Redis
 * and ZooKeeper, password mode. With --login-policy multi, alice's phone and laptop both get every message of
 * bob's (each once, in order), each sees what the other sends (carbon copies, never echoed to the sender) and
 * reads (read receipts about bob's messages), a device that was offline gets from its own inbox what the other
 * device already acknowledged, and a device over --max-devices is refused with 7370. With --login-policy
 * takeover, a second login closes the first session once, with 4100 and its reason, and it never reconnects.
 * (`reject`, CIM's, is counted in fault-users.test.ts: a second login gets 5000.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, isCimClientError, type ChatMessage, type CimClient, type ClientOptions, type ReceiptEvent, type StateChange } from '../../services/client/src/index.ts';
import { waitUntil } from '../../services/common/src/infra/ports.ts';
import { startChatProcess } from '../harness/cim-chat-process.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';

const SECRET = 'devices-suite-secret';
const MAX_DEVICES = 4;
const until = (what: string, cond: () => boolean, ms = 15_000) => waitUntil(what, () => (cond() ? true : undefined), ms).catch((err: Error) => Promise.reject(new Error(`${err.message}; ${state()}`)));
/** What every device got so far, for a failure's message. */
const seen: Record<string, Device> = {};
const state = () => Object.entries(seen).map(([n, d]) => `${n}: ${d.got.length} messages [${texts(d.got).slice(-12).join(' ')}], ${d.receipts.length} receipts, errors [${d.errors.map((e) => e.message).join('; ')}]`).join(' | ');

interface Device {
  c: CimClient;
  got: ChatMessage[];
  receipts: ReceiptEvent[];
  states: StateChange[];
  errors: Error[];
}

const clients: CimClient[] = [];
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
});

async function connect(cluster: TestCluster, userName: string, extra: Partial<ClientOptions> = {}): Promise<Device> {
  const got: ChatMessage[] = [];
  const receipts: ReceiptEvent[] = [];
  const states: StateChange[] = [];
  const errors: Error[] = [];
  const c = await createClient({
    routeUrl: cluster.routeUrl,
    userName,
    password: `${userName}-password`,
    register: true,
    backoff: { initialDelayMs: 100, maxDelayMs: 1_000 },
    onMessage: (m) => void got.push(m),
    ...extra,
  });
  c.on('receipt', (r) => void receipts.push(r));
  c.on('state', (s) => void states.push(s));
  c.on('error', (e) => void errors.push(e));
  clients.push(c);
  const device = { c, got, receipts, states, errors };
  seen[`${userName}/${extra.device ?? '-'}/${clients.length}`] = device;
  return device;
}

const serverOf = (d: Device) => {
  const s = d.c.info().server!;
  return `${s.ip}:${s.cimServerPort}:${s.httpPort}`;
};
const texts = (ms: readonly ChatMessage[]) => ms.map((m) => m.text);
const distinctIds = (ms: readonly ChatMessage[]) => new Set(ms.map((m) => `${m.from.userId}:${m.msgId}`)).size;

describe('--login-policy multi', () => {
  let cluster: TestCluster;
  let home: string;
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'cim-devices-'));
    const policy = ['--login-policy', 'multi', '--max-devices', String(MAX_DEVICES)];
    cluster = await startCluster({ servers: 2, authSecret: SECRET, auth: 'password', serverArgs: policy, routeArgs: policy });
  });
  afterAll(async () => {
    await cluster?.stop();
    await rm(home, { recursive: true, force: true });
  });

  it('delivers to every device, copies sends and reads to the others, keeps a device inbox while it is away', async () => {
    const phone = await connect(cluster, 'dv-alice', { device: 'phone' });
    const laptop = await connect(cluster, 'dv-alice', { device: 'laptop' });
    const bob = await connect(cluster, 'dv-bob');
    const aliceId = phone.c.userId!;
    const bobId = bob.c.userId!;
    expect(laptop.c.userId).toBe(aliceId);
    // One server holds all of a user's sessions; round robin put bob on the other one.
    expect(serverOf(laptop)).toBe(serverOf(phone));
    expect(serverOf(bob)).not.toBe(serverOf(phone));

    // 1. bob -> alice: each device gets all 20, once, in order.
    const fromBob = Array.from({ length: 20 }, (_, i) => `b${i}`);
    for (const t of fromBob) await bob.c.sendPrivate(aliceId, t);
    await until('both devices got bob\'s 20', () => phone.got.length >= 20 && laptop.got.length >= 20);
    for (const d of [phone, laptop]) {
      expect(texts(d.got)).toEqual(fromBob);
      expect(distinctIds(d.got)).toBe(20);
      expect(d.got.every((m) => m.carbonTo === undefined && m.from.userId === bobId)).toBe(true);
    }
    expect(phone.got.map((m) => m.seq)).toEqual(laptop.got.map((m) => m.seq)); // one seq for every device

    // 2. phone -> bob: bob gets 10; the laptop gets 10 carbon copies; the phone is not echoed.
    const fromPhone = Array.from({ length: 10 }, (_, i) => `p${i}`);
    for (const t of fromPhone) await phone.c.sendPrivate(bobId, t);
    await until('bob got 10 and the laptop 10 copies', () => bob.got.length >= 10 && laptop.got.length >= 30);
    expect(texts(bob.got)).toEqual(fromPhone);
    const copies = laptop.got.slice(20);
    expect(texts(copies)).toEqual(fromPhone);
    expect(copies.every((m) => m.carbonTo === bobId && m.from.userId === aliceId)).toBe(true);
    expect(phone.got).toHaveLength(20);

    // 3. The phone reads bob's 20: bob gets 20 read receipts, the laptop hears of the same 20 reads.
    expect(phone.c.markRead(phone.got)).toBe(true);
    const readsAt = (rs: readonly ReceiptEvent[], sender?: number) => new Set(rs.filter((r) => r.status === 'read' && r.sender === sender).map((r) => r.msgId));
    await until('read receipts', () => readsAt(bob.receipts).size >= 20 && readsAt(laptop.receipts, bobId).size >= 20);
    const bobIds = new Set(phone.got.map((m) => m.msgId));
    expect(readsAt(bob.receipts)).toEqual(bobIds);
    expect(readsAt(laptop.receipts, bobId)).toEqual(bobIds);
    expect(readsAt(phone.receipts, bobId).size).toBe(0); // not echoed to the reader

    // 4. The laptop goes away; bob sends 5; the phone gets them live and acknowledges them; the laptop, back,
    //    gets exactly those 5 from its own inbox, nothing older again.
    await laptop.c.close();
    const whileAway = ['w0', 'w1', 'w2', 'w3', 'w4'];
    for (const t of whileAway) await bob.c.sendPrivate(aliceId, t);
    await until('phone got the 5', () => phone.got.length >= 25);
    expect(texts(phone.got.slice(20))).toEqual(whileAway);
    expect(phone.got.slice(20).every((m) => !m.offline)).toBe(true);
    const back = await connect(cluster, 'dv-alice', { device: 'laptop' });
    await until('the laptop got the 5 back', () => back.got.length >= 5);
    expect(texts(back.got)).toEqual(whileAway);
    expect(back.got.every((m) => m.replay)).toBe(true);
    // A message after the 5: only that one more (nothing else was pending for the laptop).
    await bob.c.sendPrivate(aliceId, 'after');
    await until('the laptop got the next one', () => back.got.length >= 6);
    expect(texts(back.got)).toEqual([...whileAway, 'after']);

    // 5. A group message from the phone shows on the laptop as the user's own, in the group.
    const group = await bob.c.groups.create('dv-group');
    expect(await bob.c.groups.invite(group.groupId, aliceId)).toBe(true);
    await phone.c.sendToGroup(group.groupId, 'to the group');
    await until('bob and the laptop got the group message', () => bob.got.some((m) => m.text === 'to the group') && back.got.some((m) => m.text === 'to the group'));
    const groupCopy = back.got.find((m) => m.text === 'to the group')!;
    expect(groupCopy).toMatchObject({ chatType: 'group', groupId: group.groupId, carbonTo: group.groupId, from: { userId: aliceId } });
    expect(phone.got.filter((m) => m.text === 'to the group')).toHaveLength(0);

    // 6. `cim chat` is a device too (its id kept beside its history): it prints the phone's send as its own.
    const chat = startChatProcess(['--route', cluster.routeUrl, '--user', 'dv-alice', '--password', 'dv-alice-password', '--history-dir', join(home, 'chat')], home);
    const see = (text: string) => chat.stdout.waitFor(text, 20_000).catch((err: Error) => Promise.reject(new Error(`${err.message}\nstdout:\n${chat.stdout.text}\nstderr:\n${chat.stderr.text}`)));
    await see('* logged in as');
    await phone.c.sendPrivate(bobId, 'seen on the console');
    await see(`you (another device) -> #${bobId}: seen on the console`);

    // 7. A fourth device is the most allowed; a fifth, with all four online, is refused with 7370.
    const tablet = await connect(cluster, 'dv-alice', { device: 'tablet' });
    expect(serverOf(tablet)).toBe(serverOf(phone));
    const refused = await connect(cluster, 'dv-alice', { device: 'watch', connectAttempts: 1 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isCimClientError(refused) && refused.serverCode, String(refused)).toBe('7370');
    chat.type(':q!');
    expect(await chat.exited).toBe(0);
  });
});

describe('--login-policy takeover', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    const policy = ['--login-policy', 'takeover'];
    cluster = await startCluster({ servers: 2, authSecret: SECRET, auth: 'password', serverArgs: policy, routeArgs: policy });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('closes the old session once with 4100 and its reason; it does not reconnect; the new one works', async () => {
    const first = await connect(cluster, 'tk-alice');
    const bob = await connect(cluster, 'tk-bob');
    const second = await connect(cluster, 'tk-alice');
    await until('the first session closed', () => first.c.state === 'closed');
    expect(first.errors).toHaveLength(1);
    expect(first.errors[0]).toMatchObject({ code: 'CIM_ERR_CLIENT_REPLACED', serverCode: '4100' });
    expect(first.errors[0]!.message).toContain('replaced by a newer login of the same user');

    // The new session sends and receives; meanwhile the old one stays closed without a single reconnect.
    await second.c.sendPrivate(bob.c.userId!, 'from the new session');
    await bob.c.sendPrivate(second.c.userId!, 'to the new session');
    await until('both messages arrived', () => bob.got.length >= 1 && second.got.length >= 1);
    expect(texts(bob.got)).toEqual(['from the new session']);
    expect(texts(second.got)).toEqual(['to the new session']);
    expect(first.got).toHaveLength(0);
    expect(first.states.filter((s) => s.to === 'reconnecting' || s.to === 'connecting')).toHaveLength(0);
    expect(first.states.at(-1)?.to).toBe('closed');
    expect(first.c.state).toBe('closed');
    expect(second.c.state).toBe('ready');
    expect(second.errors).toHaveLength(0);
  });
});
