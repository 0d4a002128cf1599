/**
 * Named groups (docs/delivery.md "Named groups"), real processes: route + 2 servers, real Redis and ZooKeeper,
 * password mode. Five members spread over both servers, two of them offline; three send 20 messages each at
 * once. Every member gets every other member's message exactly once, in gseq order (the offline ones when they
 * log in); a non-member can neither send nor read; a member who left gets nothing more.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ChatMessage, type CimClient } from '../../services/client/src/index.ts';
import { waitUntil } from '../../services/common/src/infra/ports.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { routeApi } from '../harness/route-api.ts';

const SECRET = 'named-groups-suite-secret';
const PER_SENDER = 20;
let cluster: TestCluster;
const clients: CimClient[] = [];

beforeAll(async () => {
  cluster = await startCluster({ servers: 2, authSecret: SECRET, auth: 'password' });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await cluster?.stop();
});

/** A connected client whose group messages (of `groupId`) are collected in `got`. */
async function member(userName: string, got: ChatMessage[] = []): Promise<{ c: CimClient; got: ChatMessage[] }> {
  const c = await createClient({
    routeUrl: cluster.routeUrl,
    userName,
    password: `${userName}-password`,
    register: true,
    backoff: { initialDelayMs: 100, maxDelayMs: 1_000 },
    onMessage: (m) => {
      if (m.groupId !== undefined) got.push(m);
    },
  });
  clients.push(c);
  return { c, got };
}

/** Exactly-once and order counts of what one member received from the group. */
function audit(got: readonly ChatMessage[], groupId: number) {
  const keys = got.map((m) => `${m.from.userId}:${m.msgId}`);
  let orderViolations = 0;
  for (let i = 1; i < got.length; i++) if (got[i]!.gseq! <= got[i - 1]!.gseq!) orderViolations++;
  return {
    received: got.length,
    distinct: new Set(keys).size,
    duplicates: keys.length - new Set(keys).size,
    orderViolations,
    otherGroup: got.filter((m) => m.groupId !== groupId).length,
  };
}

describe('named groups', () => {
  it('every member gets each group message exactly once, in group order, the offline ones at login', async () => {
    const owner = await member('ng-owner');
    const s2 = await member('ng-s2');
    const s3 = await member('ng-s3');
    const group = await owner.c.groups.create('ng-team');
    expect(group.role).toBe('owner');
    expect(await s2.c.groups.join(group.groupId)).toBe(true);
    expect(await s3.c.groups.join(group.groupId)).toBe(true);
    // Two members join, then go offline (close = logout): they must get everything at their next login.
    const offlineNames = ['ng-off1', 'ng-off2'];
    const offlineIds: number[] = [];
    for (const name of offlineNames) {
      const m = await member(name);
      expect(await m.c.groups.join(group.groupId)).toBe(true);
      offlineIds.push(m.c.userId!);
      await m.c.close();
    }
    const members = await owner.c.groups.members(group.groupId);
    expect(members.members.map((m) => m.role).sort()).toEqual(['member', 'member', 'member', 'member', 'owner']);
    expect(members.members.map((m) => m.userName).sort()).toEqual(['ng-off1', 'ng-off2', 'ng-owner', 'ng-s2', 'ng-s3']);
    expect((await s2.c.groups.mine()).map((g) => [g.groupId, g.name, g.role])).toEqual([[group.groupId, 'ng-team', 'member']]);
    // The online members are spread over both servers (round-robin).
    expect(new Set([owner, s2, s3].map((m) => m.c.info().server?.cimServerPort)).size).toBe(2);

    const senders = [owner, s2, s3];
    const results = await Promise.all(senders.map(async (s, k) => {
      const out = [];
      for (let i = 0; i < PER_SENDER; i++) out.push(await s.c.sendToGroup(group.groupId, `s${k}#${i}`));
      return out;
    }));
    const gseqs = results.flat().map((r) => r.gseq!).sort((a, b) => a - b);
    expect(gseqs).toEqual(Array.from({ length: 3 * PER_SENDER }, (_, i) => i + 1));

    const expected = 2 * PER_SENDER; // everything but its own
    await waitUntil('online members got every message', () => (senders.every((s) => s.got.length >= expected) ? true : undefined), 30_000, 20);
    const late = await Promise.all(offlineNames.map((n) => member(n)));
    await waitUntil('offline members got every message at login', () => (late.every((m) => m.got.length >= 3 * PER_SENDER) ? true : undefined), 30_000, 20);
    // Let anything extra (a duplicate, a late push) arrive before counting.
    await new Promise((r) => setTimeout(r, 500)); // a quiet period: what must NOT arrive has no event to await
    const audits = [...senders, ...late].map((m) => audit(m.got, group.groupId));
    expect(audits).toEqual([
      ...senders.map(() => ({ received: expected, distinct: expected, duplicates: 0, orderViolations: 0, otherGroup: 0 })),
      ...late.map(() => ({ received: 3 * PER_SENDER, distinct: 3 * PER_SENDER, duplicates: 0, orderViolations: 0, otherGroup: 0 })),
    ]);
    // 60 messages x 4 receivers each.
    expect(audits.reduce((n, a) => n + a.received, 0)).toBe(3 * PER_SENDER * 4);
    // No member received its own message.
    for (const m of [...senders, ...late]) expect(m.got.filter((x) => x.from.userId === m.c.userId)).toEqual([]);
    // The offline ones replayed: flagged as not live.
    for (const m of late) expect(m.got.every((x) => x.offline)).toBe(true);

    // The group's history: members page it, in gseq order.
    const page = await late[0]!.c.history({ groupId: group.groupId }, { limit: 200 });
    expect(page.messages.map((x) => x.text)).toEqual([...late[0]!.got].map((x) => x.text));

    // A non-member: cannot send (7320), read the members (7320) nor the history (7320).
    const stranger = await member('ng-stranger');
    await expect(stranger.c.sendToGroup(group.groupId, 'let me in')).rejects.toMatchObject({ serverCode: '7320' });
    await expect(stranger.c.groups.members(group.groupId)).rejects.toMatchObject({ serverCode: '7320' });
    await expect(stranger.c.history({ groupId: group.groupId })).rejects.toMatchObject({ serverCode: '7320' });
    await expect(stranger.c.sendToGroup(group.groupId + 1000, 'nobody')).rejects.toMatchObject({ serverCode: '7330' });

    // Leaving stops delivery: s3 leaves, 10 more messages, s3 gets none of them; the others all.
    const before = s3.got.length;
    expect(await s3.c.groups.leave(group.groupId)).toBe(true);
    await expect(s3.c.sendToGroup(group.groupId, 'after leaving')).rejects.toMatchObject({ serverCode: '7320' });
    for (let i = 0; i < 10; i++) await owner.c.sendToGroup(group.groupId, `after-leave#${i}`);
    await waitUntil('the remaining members got the 10', () => (s2.got.length >= expected + 10 && late.every((m) => m.got.length >= 3 * PER_SENDER + 10) ? true : undefined), 30_000, 20);
    await new Promise((r) => setTimeout(r, 500)); // a quiet period: what must NOT arrive has no event to await
    expect(s3.got.length - before).toBe(0);
    expect(audit(s2.got, group.groupId)).toMatchObject({ received: expected + 10, duplicates: 0, orderViolations: 0 });
    expect(await s3.c.groups.mine()).toEqual([]);
  }, 120_000);

  it('the route API: HTTP send, roles, closed groups and bounds', async () => {
    const a = await member('ng-http-a');
    const b = await member('ng-http-b');
    const closed = await a.c.groups.create('ng-closed', { open: false });
    await expect(b.c.groups.join(closed.groupId)).rejects.toMatchObject({ serverCode: '7340' });
    expect(await a.c.groups.invite(closed.groupId, b.c.userId!)).toBe(true);
    await expect(b.c.groups.invite(closed.groupId, a.c.userId!)).rejects.toMatchObject({ serverCode: '7340' }); // members do not invite
    await expect(b.c.groups.remove(closed.groupId, a.c.userId!)).rejects.toMatchObject({ serverCode: '7340' });
    await expect(a.c.groups.leave(closed.groupId)).rejects.toMatchObject({ serverCode: '7340' });
    await expect(b.c.groups.rename(closed.groupId, 'mine')).rejects.toMatchObject({ serverCode: '7340' });
    expect(await a.c.groups.setRole(closed.groupId, b.c.userId!, 'admin')).toBe(true);
    expect(await b.c.groups.rename(closed.groupId, 'ng-renamed')).toBe(true);
    await expect(a.c.groups.create(' bad')).rejects.toMatchObject({ serverCode: '3000' });

    // /groups/send over HTTP (a user with no SDK session: its own token from /login) reaches b and a once each.
    const api = routeApi(cluster.routeUrl);
    const c = (await api.register('ng-http-c')).dataBody!;
    const token = (await api.login(c.userId, 'ng-http-c', 2)).dataBody!.token!;
    const asC = (path: string, body: object) => api.post<{ msgId: string; gseq: number; stored: number }>(path, { userId: c.userId, token, ...body });
    expect((await asC('/groups/send', { groupId: closed.groupId, msg: 'not yet' })).code).toBe('7320');
    expect((await asC('/groups/join', { groupId: closed.groupId })).code).toBe('7340');
    expect(await a.c.groups.invite(closed.groupId, c.userId)).toBe(true);
    const sent = await asC('/groups/send', { groupId: closed.groupId, msg: 'over http', msgId: 'http-1' });
    expect(sent.code).toBe('9000');
    expect(sent.dataBody).toEqual({ msgId: 'http-1', gseq: 1, stored: 2 });
    const again = await asC('/groups/send', { groupId: closed.groupId, msg: 'over http', msgId: 'http-1' });
    expect(again.dataBody?.gseq).toBe(1); // a retry keeps its place
    await waitUntil('b got it', () => (b.got.length >= 1 ? true : undefined), 10_000, 20);
    await new Promise((r) => setTimeout(r, 300)); // a quiet period: what must NOT arrive has no event to await
    expect(b.got.map((m) => [m.text, m.groupId, m.gseq])).toEqual([['over http', closed.groupId, 1]]);
    await waitUntil('a got it', () => (a.got.length >= 1 ? true : undefined), 10_000, 20);
    expect(a.got.map((m) => [m.text, m.from.userId])).toEqual([['over http', c.userId]]);
    // Without a token: refused.
    expect((await api.post('/groups/mine', { userId: a.c.userId })).code).toBe('9300');
  }, 60_000);
});
