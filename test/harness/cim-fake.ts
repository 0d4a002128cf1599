/**
 * A scripted stand-in for a CIM deployment (the Java programs), for testing our client's CIM mode: only
 * CIM's wire behaviour (reference §2-§3), nothing of our services. One TCP "cim-server" (varint32 frames;
 * records every frame's exact bytes; answers PING with CIM's pong bytes; never answers a login) and one
 * HTTP "route" (CIM's envelope; records every request body; /p2pRoute, /groupRoute and /fetchOfflineMsgs
 * push MESSAGE/OFFLINE frames the way CIM's server writes them). Both bind 127.0.0.1 on free ports.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { Command, decodeMessage, encodeTcpFrame, type CimFrame } from '../../services/common/src/codec.ts';
import { FrameDecoder } from '../../services/common/src/framing.ts';

/** CIM's shared pong packet, byte for byte (reference §2.2). */
export const CIM_PONG = Buffer.from('080a04706f6e671802', 'hex');

export interface ReceivedFrame {
  /** The whole frame as sent, length prefix included, in hex. */
  readonly hex: string;
  readonly frame: CimFrame;
  readonly at: number;
  /** Which TCP connection (1, 2, …) it came on. */
  readonly connection: number;
}

export interface RouteCall {
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
}

export interface FakeCim {
  readonly routeUrl: string;
  readonly tcpPort: number;
  readonly frames: ReceivedFrame[];
  readonly calls: RouteCall[];
  /** Accounts as CIM's registerAccount keeps them: name → id. */
  readonly accounts: Map<string, number>;
  /** Offline texts per receiver, pushed as one OFFLINE batch by /fetchOfflineMsgs (then forgotten). */
  readonly offline: Map<number, { texts: string[]; from: { userId: number; userName: string } }>;
  /** Writes a MESSAGE as CIM's server does for a /sendMsg push; false when the user has no channel. */
  push(to: number, text: string, from: { userId: number; userName: string }): boolean;
  /** Closes every client connection (a server restart, as the client sees it). */
  dropConnections(): void;
  /** Resolves once `predicate` holds for the recorded frames/calls (checked on every new one). */
  until(what: string, predicate: () => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startFakeCim(): Promise<FakeCim> {
  const frames: ReceivedFrame[] = [];
  const calls: RouteCall[] = [];
  const accounts = new Map<string, number>();
  const offline: FakeCim['offline'] = new Map();
  const channels = new Map<number, Socket>();
  const sockets = new Set<Socket>();
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const w of waiters) w();
  };
  let connections = 0;

  const tcp: TcpServer = createTcpServer((socket) => {
    const connection = ++connections;
    sockets.add(socket);
    const decoder = new FrameDecoder(1 << 20);
    socket.on('data', (chunk: Buffer) => {
      for (const body of decoder.push(chunk)) {
        const frame = decodeMessage(body);
        frames.push({ hex: Buffer.concat([lengthPrefix(body.length), body]).toString('hex'), frame, at: Date.now(), connection });
        if (frame.cmd === Command.LOGIN_REQUEST) channels.set(frame.requestId, socket); // CIM: no reply
        else if (frame.cmd === Command.PING) socket.write(CIM_PONG);
        notify();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      for (const [uid, s] of channels) if (s === socket) channels.delete(uid);
      notify();
    });
  });
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  const tcpPort = (tcp.address() as { port: number }).port;

  const write = (to: number, cmd: number, texts: string[], from: { userId: number; userName: string }): boolean => {
    const socket = channels.get(to);
    if (!socket) return false;
    const properties = { sendUserId: String(from.userId), sendUserName: from.userName, receiveUserId: String(to) };
    const frame = texts.length === 1 ? { requestId: to, reqMsg: texts[0]!, cmd, properties } : { requestId: to, cmd, properties, batchReqMsg: texts };
    socket.write(encodeTcpFrame(frame));
    return true;
  };
  const nameOf = (userId: number): string => [...accounts].find(([, id]) => id === userId)?.[0] ?? '';
  const envelope = (code: string, message: string, dataBody: unknown = null) => ({ code, message, reqNo: null, dataBody });
  const OK = 'Success';

  const http: HttpServer = createHttpServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      const path = (req.url ?? '').replace(/\?.*$/, '');
      let body: Record<string, unknown> = {};
      try {
        body = raw === '' ? {} : (JSON.parse(raw) as Record<string, unknown>);
      } catch {
        body = {};
      }
      calls.push({ method: req.method ?? '', path, body: raw === '' ? undefined : body });
      let answer: unknown;
      const uid = Number(body['userId']);
      switch (path) {
        case '/registerAccount': {
          const name = String(body['userName']);
          if (!accounts.has(name)) accounts.set(name, 1547028929407 + accounts.size);
          answer = envelope('9000', OK, { userId: accounts.get(name), userName: name });
          break;
        }
        case '/login':
          answer = nameOf(uid) === body['userName'] ? envelope('9000', OK, { ip: '127.0.0.1', cimServerPort: tcpPort, httpPort: 1 }) : envelope('9100', 'The User information you have used is incorrect!');
          break;
        case '/p2pRoute': {
          const to = Number(body['receiveUserId']);
          const pushed = write(to, Command.MESSAGE, [String(body['msg'])], { userId: uid, userName: nameOf(uid) });
          answer = pushed ? envelope('9000', OK) : envelope('7000', 'You selected user is offline!, please try again later!');
          break;
        }
        case '/groupRoute':
          for (const to of channels.keys()) if (to !== uid) write(to, Command.MESSAGE, [String(body['msg'])], { userId: uid, userName: nameOf(uid) });
          answer = envelope('9000', OK);
          break;
        case '/fetchOfflineMsgs': {
          const to = Number(body['receiveUserId']);
          const pending = offline.get(to);
          if (pending && write(to, Command.OFFLINE, pending.texts, pending.from)) offline.delete(to);
          answer = envelope('9000', OK);
          break;
        }
        case '/offLine':
          answer = envelope('9000', OK);
          break;
        case '/onlineUser':
          answer = envelope('9000', OK, channels.size === 0 ? null : [...channels.keys()].map((id) => ({ userId: id, userName: nameOf(id) })));
          break;
        default:
          res.writeHead(404).end();
          notify();
          return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      notify();
    });
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const routeUrl = `http://127.0.0.1:${(http.address() as { port: number }).port}`;

  return {
    routeUrl,
    tcpPort,
    frames,
    calls,
    accounts,
    offline,
    push: (to, text, from) => write(to, Command.MESSAGE, [text], from),
    dropConnections() {
      for (const s of sockets) s.destroy();
    },
    until(what, predicate, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (!predicate()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`fake CIM: timed out waiting for ${what}; frames ${frames.length}, calls ${JSON.stringify(calls.map((c) => c.path))}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async close() {
      for (const s of sockets) s.destroy();
      http.closeAllConnections();
      await Promise.all([new Promise((r) => tcp.close(r)), new Promise((r) => http.close(r))]);
    },
  };
}

function lengthPrefix(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}
