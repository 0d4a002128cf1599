/**
 * A scripted in-process CIM cluster for the client's unit tests: a fake route (CIM's HTTP envelope) and
 * fake cim-servers (WebSocket + TCP, protocol 2) on 127.0.0.1 ephemeral ports. It implements only what
 * the client needs, keeps every frame it receives for assertions, and has knobs to misbehave: mute a
 * server (half-open), send GOAWAY, drop every connection, kill a server, refuse logins.
 * Like a SIGKILLed real server, a fake server that loses a connection does NOT clear the user's route
 * entry: the client has to call /offLine before logging in again.
 */
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { Command, decodeMessage, encodeMessage, encodeTcpFrame, Prop, type CimFrame } from '../../../common/src/codec.ts';
import { FrameDecoder } from '../../../common/src/framing.ts';

export interface FakeSession {
  readonly userId: number;
  readonly userName: string;
  readonly transport: 'ws' | 'tcp';
  send(frame: Partial<CimFrame>): void;
  close(): void;
}

export interface FakeServer {
  readonly index: number;
  readonly httpPort: number;
  readonly tcpPort: number;
  /** Every frame received, in order. */
  readonly received: CimFrame[];
  readonly sessions: Map<number, FakeSession>;
  /** When set, inbound frames are ignored and nothing is answered (a half-open peer). */
  muted: boolean;
  /** LOGIN_RESPONSE code; "9000" unless changed. */
  loginCode: string;
  /** Send GOAWAY right behind a successful LOGIN_RESPONSE (same tick, usually the same TCP segment). */
  goawayAfterLogin: boolean;
  goaway(reason: string): void;
  dropAll(): void;
  /** Stops listening and drops every connection; the route stops choosing it. */
  kill(): Promise<void>;
  readonly alive: boolean;
}

export interface FakeCim {
  readonly routeUrl: string;
  readonly servers: FakeServer[];
  /** Route calls, e.g. "POST /login {...}". */
  readonly routeCalls: { path: string; body: Record<string, unknown> }[];
  /** userId → {server index, token} for logged-in users (CIM's cim-route / login-status). */
  readonly online: Map<number, { server: number; token: string; userName: string }>;
  /** Business code /login answers with instead of logging in, when set. */
  loginFailure: { code: string; message: string } | undefined;
  /** Chooses the server index for a login; default: first alive server in round robin. */
  pickServer: ((userId: number, alive: number[]) => number) | undefined;
  /** Pushes a MESSAGE to a connected user as the server would. */
  push(userId: number, frame: Partial<CimFrame>): boolean;
  stop(): Promise<void>;
}

const OK = { code: '9000', message: 'Success' };

export async function startFakeCim(options: { servers?: number } = {}): Promise<FakeCim> {
  const accounts = new Map<string, number>();
  const names = new Map<number, string>();
  let nextId = 1_700_000_000_000;
  let roundRobin = 0;
  const servers: FakeServerImpl[] = [];

  const cim: FakeCim = {
    routeUrl: '',
    servers,
    routeCalls: [],
    online: new Map(),
    loginFailure: undefined,
    pickServer: undefined,
    push(userId, frame) {
      for (const server of servers) {
        const session = server.sessions.get(userId);
        if (session) {
          session.send(frame);
          return true;
        }
      }
      return false;
    },
    async stop() {
      await Promise.all(servers.map((s) => s.kill()));
      await closeHttp(route);
    },
  };

  const findSession = (userId: number): FakeSession | undefined => {
    for (const server of servers) {
      const session = server.sessions.get(userId);
      if (session) return session;
    }
    return undefined;
  };

  const handleRoute = (path: string, body: Record<string, unknown>): unknown => {
    cim.routeCalls.push({ path, body });
    switch (path) {
      case 'POST /registerAccount': {
        const userName = String(body['userName']);
        let userId = accounts.get(userName);
        if (userId === undefined) {
          userId = nextId++;
          accounts.set(userName, userId);
          names.set(userId, userName);
        }
        return { ...OK, reqNo: null, dataBody: { userId, userName } };
      }
      case 'POST /login': {
        const userId = Number(body['userId']);
        const userName = String(body['userName']);
        if (names.get(userId) !== userName) return { code: '9100', message: 'The User information you have used is incorrect!', reqNo: null, dataBody: null };
        if (cim.loginFailure) return { ...cim.loginFailure, reqNo: null, dataBody: null };
        if (cim.online.has(userId)) return { code: '5000', message: 'Repeat login, log out an account please!', reqNo: null, dataBody: null };
        const alive = servers.filter((s) => s.alive).map((s) => s.index);
        if (alive.length === 0) return { code: '7100', message: 'cim server is not available, please try again later!', reqNo: null, dataBody: null };
        const index = cim.pickServer ? cim.pickServer(userId, alive) : alive[roundRobin++ % alive.length]!;
        const server = servers[index]!;
        const token = randomUUID();
        cim.online.set(userId, { server: index, token, userName });
        return { ...OK, reqNo: null, dataBody: { ip: '127.0.0.1', cimServerPort: server.tcpPort, httpPort: server.httpPort, wsPath: '/ws', token } };
      }
      case 'POST /offLine': {
        const userId = Number(body['userId']);
        const entry = cim.online.get(userId);
        if (entry && entry.token === body['token']) cim.online.delete(userId);
        return { ...OK, reqNo: null, dataBody: null };
      }
      case 'GET /onlineUser': {
        const users = [...cim.online.entries()].map(([userId, e]) => ({ userId, userName: e.userName }));
        return { ...OK, reqNo: null, dataBody: users.length > 0 ? users : null };
      }
      default:
        return undefined;
    }
  };

  const route = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const body = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
      const answer = handleRoute(`${req.method} ${req.url}`, body);
      if (answer === undefined) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  await listen(route);
  (cim as { routeUrl: string }).routeUrl = `http://127.0.0.1:${(route.address() as AddressInfo).port}`;

  const handleFrame = (server: FakeServerImpl, session: SessionSlot, frame: CimFrame): void => {
    server.received.push(frame);
    if (server.muted) return;
    switch (frame.cmd) {
      case Command.LOGIN_REQUEST: {
        const userId = frame.requestId;
        const entry = cim.online.get(userId);
        const code = server.loginCode !== '9000' ? server.loginCode : !entry || entry.token !== frame.properties[Prop.token] ? '9100' : '9000';
        session.write({ cmd: Command.LOGIN_RESPONSE, properties: code === '9000' ? { code } : { code, reason: 'login refused' } });
        if (code !== '9000') {
          session.close();
          return;
        }
        session.userId = userId;
        session.userName = frame.reqMsg;
        server.sessions.get(userId)?.close();
        server.sessions.set(userId, session.public());
        if (server.goawayAfterLogin) session.write({ cmd: Command.GOAWAY, reqMsg: 'draining right after login' });
        return;
      }
      case Command.PING:
        session.write({ cmd: Command.PING, reqMsg: 'pong' });
        return;
      case Command.MESSAGE: {
        const msgId = frame.properties[Prop.msgId] ?? '';
        const from = { [Prop.sendUserId]: String(session.userId), [Prop.sendUserName]: session.userName, [Prop.msgId]: msgId, [Prop.sentAt]: String(Date.now()) };
        const to = frame.properties[Prop.receiveUserId];
        if (to !== undefined) {
          const target = findSession(Number(to));
          if (target) target.send({ cmd: Command.MESSAGE, requestId: Number(to), reqMsg: frame.reqMsg, properties: { ...from, [Prop.receiveUserId]: to } });
          session.write({ cmd: Command.MESSAGE_ACK, properties: target ? { msgId, code: '9000' } : { msgId, code: '7000', reason: 'receiver offline' } });
          return;
        }
        for (const s of servers) {
          for (const [userId, target] of s.sessions) {
            if (userId !== session.userId) target.send({ cmd: Command.MESSAGE, requestId: userId, reqMsg: frame.reqMsg, properties: { ...from, [Prop.receiveUserId]: String(userId) } });
          }
        }
        session.write({ cmd: Command.MESSAGE_ACK, properties: { msgId, code: '9000' } });
        return;
      }
      default:
    }
  };

  for (let index = 0; index < (options.servers ?? 2); index++) {
    servers.push(await startFakeServer(index, handleFrame));
  }
  return cim;
}

interface SessionSlot {
  userId: number;
  userName: string;
  write(frame: Partial<CimFrame>): void;
  close(): void;
  public(): FakeSession;
}

interface FakeServerImpl extends FakeServer {
  readonly sessions: Map<number, FakeSession>;
}

async function startFakeServer(index: number, handleFrame: (server: FakeServerImpl, slot: SessionSlot, frame: CimFrame) => void): Promise<FakeServerImpl> {
  const http = createHttpServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server: http, path: '/ws' });
  const tcp: NetServer = createNetServer();
  const sockets = new Set<{ close(): void }>();
  let alive = true;

  const makeSlot = (transport: 'ws' | 'tcp', write: (frame: Partial<CimFrame>) => void, close: () => void): SessionSlot => {
    let view: FakeSession | undefined;
    const slot: SessionSlot = {
      userId: 0,
      userName: '',
      write,
      close,
      public: () => (view ??= { userId: slot.userId, userName: slot.userName, transport, send: write, close }),
    };
    return slot;
  };
  const forget = (slot: SessionSlot): void => {
    if (slot.userId !== 0 && server.sessions.get(slot.userId) === slot.public()) server.sessions.delete(slot.userId);
  };

  wss.on('connection', (ws: WebSocket) => {
    const handle = { close: () => ws.terminate() };
    sockets.add(handle);
    const slot = makeSlot(
      'ws',
      (frame) => {
        if (ws.readyState === ws.OPEN) ws.send(encodeMessage(frame));
      },
      () => ws.terminate(),
    );
    ws.on('message', (data) => handleFrame(server, slot, decodeMessage(data as Buffer)));
    ws.on('close', () => {
      sockets.delete(handle);
      forget(slot);
    });
    ws.on('error', () => {});
  });
  tcp.on('connection', (socket: Socket) => {
    const handle = { close: () => socket.destroy() };
    sockets.add(handle);
    const decoder = new FrameDecoder(1 << 20);
    const slot = makeSlot(
      'tcp',
      (frame) => {
        if (!socket.destroyed) socket.write(encodeTcpFrame(frame));
      },
      () => socket.destroy(),
    );
    socket.on('data', (chunk: Buffer) => {
      for (const bytes of decoder.push(chunk)) handleFrame(server, slot, decodeMessage(bytes));
    });
    socket.on('close', () => {
      sockets.delete(handle);
      forget(slot);
    });
    socket.on('error', () => {});
  });
  await listen(http);
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));

  const server: FakeServerImpl = {
    index,
    httpPort: (http.address() as AddressInfo).port,
    tcpPort: (tcp.address() as AddressInfo).port,
    received: [],
    sessions: new Map(),
    muted: false,
    loginCode: '9000',
    goawayAfterLogin: false,
    get alive() {
      return alive;
    },
    goaway(reason) {
      for (const session of server.sessions.values()) session.send({ cmd: Command.GOAWAY, reqMsg: reason });
    },
    dropAll() {
      for (const socket of [...sockets]) socket.close();
    },
    async kill() {
      if (!alive) return;
      alive = false;
      server.dropAll();
      wss.close();
      await Promise.all([closeHttp(http), new Promise<void>((resolve) => tcp.close(() => resolve()))]);
    },
  };
  return server;
}

function listen(server: HttpServer): Promise<void> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
}

function closeHttp(server: HttpServer): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
