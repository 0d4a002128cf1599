/** A minimal WebSocket client for load generation: raw frames, no reconnect, no per-message allocations beyond decoding. */
import WebSocket from 'ws';
import { Command, decodeMessage, encodeMessage, PROTOCOL_VERSION, type CimFrame } from '../../common/src/codec.ts';
import { RouteApi } from '../../client/src/sdk/route-api.ts';

export interface BenchUser {
  readonly userId: number;
  readonly userName: string;
  /** host:tcpPort:httpPort of its server */
  readonly server: string;
  readonly ws: WebSocket;
  onFrame: (frame: CimFrame) => void;
}

/** Registers, logs in through the route and connects; resolves once the server accepted LOGIN_REQUEST. */
export async function connectBenchUser(routeUrl: string, userName: string): Promise<BenchUser> {
  const route = new RouteApi({ routeUrl, timeoutMs: 30_000 });
  const { userId } = await route.registerAccount(userName);
  const s = await route.login(userId, userName);
  const ws = new WebSocket(`ws://${s.ip}:${s.httpPort}${s.wsPath}`, { perMessageDeflate: false });
  const user: BenchUser = { userId, userName, server: `${s.ip}:${s.cimServerPort}:${s.httpPort}`, ws, onFrame: () => undefined };
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () => ws.send(encodeMessage({ requestId: userId, reqMsg: userName, cmd: Command.LOGIN_REQUEST, properties: { protocol: PROTOCOL_VERSION, token: s.token } })));
    ws.on('message', (data: Buffer) => {
      const frame = decodeMessage(data);
      if (frame.cmd === Command.LOGIN_RESPONSE) {
        if (frame.properties['code'] === '9000') resolve();
        else reject(new Error(`LOGIN_RESPONSE ${JSON.stringify(frame.properties)}`));
        return;
      }
      user.onFrame(frame);
    });
  });
  // Keep the connection alive through long runs.
  const pinger = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send(encodeMessage({ requestId: userId, reqMsg: 'ping', cmd: Command.PING })), 10_000);
  pinger.unref();
  ws.once('close', () => clearInterval(pinger));
  return user;
}

export function sendInBand(user: BenchUser, text: string, receiveUserId?: number): void {
  user.ws.send(encodeMessage({ cmd: Command.MESSAGE, reqMsg: text, properties: receiveUserId === undefined ? {} : { receiveUserId: String(receiveUserId) } }));
}
