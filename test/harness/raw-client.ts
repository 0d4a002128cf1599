/**
 * A protocol-level client for tests: speaks frames over WebSocket or CIM's TCP framing, collects
 * everything the server sends, and lets a test await a frame instead of sleeping.
 */
import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { Command, decodeMessage, encodeMessage, encodeTcpFrame, PROTOCOL_VERSION, type CimFrame } from '../../services/common/src/codec.ts';
import { FrameDecoder } from '../../services/common/src/framing.ts';

export interface RawClient {
  readonly frames: CimFrame[];
  /** raw bytes received (TCP only), for byte-exact assertions */
  readonly received: Buffer[];
  readonly closed: Promise<{ code?: number; reason?: string }>;
  send(frame: Partial<CimFrame>): void;
  sendBytes(bytes: Uint8Array): void;
  /** Waits for the first frame (already received or future) matching `match`. */
  next(match: (f: CimFrame) => boolean, timeoutMs?: number, what?: string): Promise<CimFrame>;
  login(userId: number, userName: string, properties?: Record<string, string>): void;
  ping(userId: number): void;
  isOpen(): boolean;
  close(): Promise<void>;
}

function makeCollector() {
  const frames: CimFrame[] = [];
  const waiters = new Set<{ match: (f: CimFrame) => boolean; resolve: (f: CimFrame) => void }>();
  return {
    frames,
    add(frame: CimFrame) {
      frames.push(frame);
      for (const w of [...waiters]) if (w.match(frame)) (waiters.delete(w), w.resolve(frame));
    },
    next(match: (f: CimFrame) => boolean, timeoutMs = 10_000, what = 'a matching frame'): Promise<CimFrame> {
      const found = frames.find(match);
      if (found) return Promise.resolve(found);
      const error = new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      return new Promise((resolve, reject) => {
        const waiter = { match, resolve: (f: CimFrame) => (clearTimeout(timer), resolve(f)) };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          error.message += `; received: ${JSON.stringify(frames)}`;
          reject(error);
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
  };
}

export async function connectWs(url: string): Promise<RawClient> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const c = makeCollector();
  const closed = new Promise<{ code?: number; reason?: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('message', (data: Buffer) => c.add(decodeMessage(data)));
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    frames: c.frames,
    received: [],
    closed,
    send: (frame) => ws.send(encodeMessage(frame)),
    sendBytes: (bytes) => ws.send(bytes),
    next: c.next,
    login(userId, userName, properties = { protocol: PROTOCOL_VERSION }) {
      ws.send(encodeMessage({ requestId: userId, reqMsg: userName, cmd: Command.LOGIN_REQUEST, properties }));
    },
    ping: (userId) => ws.send(encodeMessage({ requestId: userId, reqMsg: 'ping', cmd: Command.PING })),
    isOpen: () => ws.readyState === WebSocket.OPEN,
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      ws.terminate();
      await closed;
    },
  };
}

export async function connectTcp(host: string, port: number): Promise<RawClient> {
  const socket: Socket = connect({ host, port });
  const c = makeCollector();
  const received: Buffer[] = [];
  const decoder = new FrameDecoder(1 << 20);
  const closed = new Promise<{ code?: number; reason?: string }>((resolve) => socket.on('close', () => resolve({})));
  socket.on('data', (chunk: Buffer) => {
    received.push(chunk);
    for (const frame of decoder.push(chunk)) c.add(decodeMessage(frame));
  });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return {
    frames: c.frames,
    received,
    closed,
    send: (frame) => void socket.write(encodeTcpFrame(frame)),
    sendBytes: (bytes) => void socket.write(bytes),
    next: c.next,
    login(userId, userName, properties = {}) {
      socket.write(encodeTcpFrame({ requestId: userId, reqMsg: userName, cmd: Command.LOGIN_REQUEST, properties }));
    },
    ping: (userId) => void socket.write(encodeTcpFrame({ requestId: userId, reqMsg: 'ping', cmd: Command.PING })),
    isOpen: () => !socket.destroyed,
    async close() {
      if (socket.destroyed) return;
      socket.destroy();
      await closed;
    },
  };
}
