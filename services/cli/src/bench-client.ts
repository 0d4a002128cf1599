/**
 * A lean load-generation client built from the SDK's pieces (RouteApi, transport, LoginHandshake,
 * DeliveryAcks) without CimClient's bookkeeping: no reconnect, no outbox, frames handed straight to the
 * scenario. It acknowledges the private messages it receives like any protocol-2 client, so the servers'
 * inboxes do not grow during a run (unless told not to: `acknowledges`, `cim bench --no-receipts`).
 */
import { Command, Prop, type CimFrame } from '../../common/src/codec.ts';
import { formatServerAddress } from '../../common/src/server-address.ts';
import { LoginHandshake } from '../../client/src/sdk/login.ts';
import { parseSeq } from '../../client/src/sdk/outbox.ts';
import { DeliveryAcks } from '../../client/src/sdk/receipts.ts';
import { RouteApi } from '../../client/src/sdk/route-api.ts';
import { openConnection, type Connection } from '../../client/src/sdk/transport.ts';

const TIMEOUT_MS = 30_000;
const PING_INTERVAL_MS = 10_000;

export interface BenchUser {
  readonly userId: number;
  readonly userName: string;
  /** host:tcpPort:httpPort of its server */
  readonly server: string;
  readonly connection: Connection;
  /** Acknowledges the private messages it receives (DELIVERED); off, they stay in its inbox. */
  acknowledges: boolean;
  onFrame: (frame: CimFrame) => void;
  /** Drops the connection (no logout: the run is over). */
  close(): void;
}

/** Registers, logs in through the route and connects; resolves once the server accepted LOGIN_REQUEST. */
export async function connectBenchUser(routeUrl: string, userName: string): Promise<BenchUser> {
  const route = new RouteApi({ routeUrl, timeoutMs: TIMEOUT_MS });
  const { userId } = await route.registerAccount(userName);
  const grant = await route.login(userId, userName);
  let handshake: LoginHandshake | undefined;
  let user: BenchUser | undefined;
  const acks = new DeliveryAcks({ write: (frame) => connection.send(frame), userId: () => userId, delayMs: 20, batchSize: 64 });
  const connection = await openConnection(
    'ws',
    grant,
    {
      onFrame(frame) {
        if (handshake && frame.cmd === Command.LOGIN_RESPONSE) return void handshake.answer(frame);
        user?.onFrame(frame);
        const seq = frame.cmd === Command.MESSAGE ? parseSeq(frame.properties[Prop.seq]) : undefined;
        if (seq !== undefined && (user?.acknowledges ?? true)) acks.add(seq);
      },
      onClose(reason) {
        handshake?.fail(new Error(`connection closed during login: ${reason}`));
        acks.stop();
        clearInterval(pinger);
      },
    },
    { timeoutMs: TIMEOUT_MS, signal: new AbortController().signal, maxFrameBytes: 4 * 1024 * 1024, via: 'direct' },
  );
  handshake = new LoginHandshake(connection, { userId, userName, token: grant.token, timeoutMs: TIMEOUT_MS });
  // Keep the connection alive through long runs.
  const pinger = setInterval(() => connection.send({ requestId: userId, reqMsg: 'ping', cmd: Command.PING }), PING_INTERVAL_MS);
  pinger.unref();
  try {
    await handshake.done;
  } catch (err) {
    connection.close('login failed');
    throw err;
  } finally {
    handshake = undefined;
  }
  user = {
    userId,
    userName,
    server: formatServerAddress({ host: grant.ip, tcpPort: grant.cimServerPort, httpPort: grant.httpPort }),
    connection,
    acknowledges: true,
    onFrame: () => undefined,
    close: () => connection.close('bench finished'),
  };
  return user;
}

/** An in-band MESSAGE (the server chooses its msgId); private when `receiveUserId` is given. */
export function sendInBand(user: BenchUser, text: string, receiveUserId?: number): void {
  user.connection.send({
    cmd: Command.MESSAGE,
    requestId: user.userId,
    reqMsg: text,
    properties: receiveUserId === undefined ? {} : { [Prop.receiveUserId]: String(receiveUserId) },
  });
}
