/**
 * A CIM-protocol client cannot acknowledge, so the server acks what it writes to it; messages that stream
 * in while such a client logs in race its login replay (live push vs. the OFFLINE batch). Counted: every
 * message reaches the user exactly once over its two sessions — none twice (the batch carries no id the
 * client could deduplicate by), none lost (what missed the first session arrives at the next login).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command } from '../../services/common/src/codec.ts';
import { waitUntil } from '../../services/common/src/infra/ports.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { connectTcp, type RawClient } from '../harness/raw-client.ts';
import { routeApi } from '../harness/route-api.ts';

let cluster: TestCluster;
const clients: RawClient[] = [];

beforeAll(async () => {
  cluster = await startCluster({ servers: 2 });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cluster?.stop();
});

/** Texts a raw CIM client was shown: live MESSAGE frames and the texts of OFFLINE batches. */
const shownTexts = (c: RawClient): string[] =>
  c.frames.flatMap((f) => (f.cmd === Command.MESSAGE ? [f.reqMsg] : f.cmd === Command.OFFLINE ? f.batchReqMsg : []));

describe('a CIM-protocol receiver logging in while messages stream in', () => {
  it('is shown every message exactly once across its sessions', async () => {
    const api = routeApi(cluster.routeUrl);
    const sender = (await api.register('race-sender')).dataBody.userId;
    const receiver = (await api.register('race-receiver')).dataBody.userId;
    const total = 400;
    const sends: Promise<unknown>[] = [];
    let first: RawClient | undefined;
    for (let i = 0; i < total; i++) {
      sends.push(api.p2p(sender, receiver, `race#${i}`));
      if (i === 100) {
        // Log in mid-stream, without waiting: the replay and the live pushes overlap.
        const login = await api.login(receiver, 'race-receiver');
        first = await connectTcp(login.dataBody!.ip, login.dataBody!.cimServerPort);
        clients.push(first);
        first.login(receiver, 'race-receiver');
      }
      if (i % 20 === 0) await Promise.all(sends.splice(0)); // a steady stream, not one burst
    }
    await Promise.all(sends);
    // Quiet: the first session has what it will get.
    let last = -1;
    await waitUntil('the first session to go quiet', () => {
      const n = shownTexts(first!).length;
      const quiet = n === last;
      last = n;
      return quiet ? true : undefined;
    }, 15_000, 300);
    await first!.close();
    // The server saw the close and cleared the route: the user can log in again.
    const login = await waitUntil(
      'the receiver to log in again',
      async () => {
        const reply = await api.login(receiver, 'race-receiver');
        return reply.code === '9000' ? reply : undefined;
      },
      15_000,
      100,
    );
    const second = await connectTcp(login.dataBody!.ip, login.dataBody!.cimServerPort);
    clients.push(second);
    second.login(receiver, 'race-receiver');
    await waitUntil('every message to be shown', () => (new Set([...shownTexts(first!), ...shownTexts(second)]).size >= total ? true : undefined), 15_000, 50).catch(() => undefined);

    const all = [...shownTexts(first!), ...shownTexts(second)];
    const counts = new Map<string, number>();
    for (const t of all) counts.set(t, (counts.get(t) ?? 0) + 1);
    const twice = [...counts.values()].filter((n) => n > 1).length;
    console.log(`fault-counts ${JSON.stringify({ fault: 'cim-receiver-login-race', sent: total, shownFirst: shownTexts(first!).length, shownSecond: shownTexts(second).length, delivered: counts.size, shownTwice: twice })}`);
    expect(twice).toBe(0);
    expect(counts.size).toBe(total);
  });
});
