/**
 * The PushTransport contract's fixture on a real cim-server process (test/contracts/push-transport.ts): one
 * server and a route, receivers logged in over WebSocket, and the transport under test built with the
 * cluster's secret. Shared by every transport's contract run.
 */
import { Command } from '../../services/common/src/codec.ts';
import { freePort } from '../../services/common/src/infra/ports.ts';
import type { PushTransport } from '../../services/common/src/push.ts';
import type { PushTransportFixture } from '../contracts/push-transport.ts';
import { startCluster } from './cluster.ts';
import { connectWs, type RawClient } from './raw-client.ts';
import { routeApi } from './route-api.ts';

export async function realServerPushFixture(authSecret: string, makeTransport: (authSecret: string) => PushTransport): Promise<PushTransportFixture> {
  const cluster = await startCluster({ servers: 1, authSecret });
  const transport = makeTransport(authSecret);
  const api = routeApi(cluster.routeUrl);
  const clients: RawClient[] = [];
  const closedPort = await freePort();
  return {
    transport,
    server: cluster.servers[0]!.address,
    unreachable: `127.0.0.1:${closedPort}:${closedPort}`,
    async connect(userName) {
      const { userId } = (await api.register(userName)).dataBody;
      const login = await api.login(userId, userName, 2);
      if (login.code !== '9000' || !login.dataBody) throw new Error(`route login of ${userName}: ${JSON.stringify(login)}`);
      const grant = login.dataBody;
      const client = await connectWs(`ws://${grant.ip}:${grant.httpPort}${grant.wsPath ?? '/ws'}`);
      clients.push(client);
      client.login(userId, userName, { protocol: '2', token: grant.token ?? '' });
      const reply = await client.next((fr) => fr.cmd === Command.LOGIN_RESPONSE, 10_000, `LOGIN_RESPONSE of ${userName}`);
      if (reply.properties['code'] !== '9000') throw new Error(`login of ${userName} refused: ${JSON.stringify(reply)}`);
      return { userId, frames: client.frames, next: (match, what) => client.next(match, 10_000, what) };
    },
    async close() {
      transport.close?.();
      await Promise.all(clients.map((c) => c.close()));
      await cluster.stop();
    },
  };
}
