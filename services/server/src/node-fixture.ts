/**
 * Test fixture of the server core: a ServerNode on memory stores with fake transports (no sockets).
 * Used by the *.test.ts files next to it; not part of the server.
 */
import { ManualClock } from '../../common/src/clock.ts';
import { closeCode } from '../../common/src/codes.ts';
import { Command, decodeMessage, encodeMessage, type CimFrame } from '../../common/src/codec.ts';
import { FrameDecoder } from '../../common/src/framing.ts';
import { MemoryInboxStore } from '../../common/src/inbox/memory.ts';
import type { DeviceInboxStore, InboxStore } from '../../common/src/inbox/types.ts';
import { asDeviceInbox } from '../../common/src/inbox/devices.ts';
import { silentLogger } from '../../common/src/log.ts';
import { MessageRouter } from '../../common/src/message-router.ts';
import { MemoryMetaHub, MemoryMetaStore } from '../../common/src/meta-store/memory.ts';
import { createMetricsRegistry } from '../../common/src/metrics.ts';
import { LocalShortcutPushTransport, type PushTransport } from '../../common/src/push.ts';
import { MemoryRouteStore } from '../../common/src/route-store/memory.ts';
import { createServerMetrics } from './metrics.ts';
import { ServerNode } from './node.ts';
import type { Session, TransportKind, TransportPort } from './session.ts';
import type { EncodedFrame } from './transport/encoded-frame.ts';

export const SELF = '127.0.0.1:11211:8081';

export class FakeTransport implements TransportPort {
  readonly remoteAddress = 'fake';
  readonly frames: CimFrame[] = [];
  /** close code the server closed with (the first) */
  closedWith: number | undefined;
  buffered = 0;
  /** false: the connection can no longer send (writes are dropped and reported) */
  writable = true;
  readonly #decoder = new FrameDecoder(1 << 20);
  readonly kind: TransportKind;
  constructor(kind: TransportKind = 'ws') {
    this.kind = kind;
  }
  bufferedBytes = () => this.buffered;
  writeFrame = (frame: EncodedFrame): boolean => {
    if (!this.writable) return false;
    if (this.kind === 'ws') this.frames.push(decodeMessage(frame.body));
    else for (const body of this.#decoder.push(Buffer.from(frame.tcp))) this.frames.push(decodeMessage(body));
    return true;
  };
  close = (code: number, reason: string): void => {
    if (this.closedWith !== undefined) return;
    this.closedWith = code;
    if (closeCode(code)?.reason !== reason) throw new Error(`close reason ${reason} does not match code ${code}`);
  };
  of(cmd: number): CimFrame[] {
    return this.frames.filter((f) => f.cmd === cmd);
  }
}

export interface Fixture {
  readonly clock: ManualClock;
  readonly store: MemoryRouteStore;
  readonly memoryInbox: MemoryInboxStore;
  /** what the node and router use; tests may replace it (a failing store) */
  inbox: InboxStore;
  /** pushes to other servers; fails by default (there are none) */
  remote: PushTransport;
  readonly node: ServerNode;
  connect(userName: string, props?: Record<string, string>, kind?: TransportKind): Promise<Client>;
  send(session: Session, frame: Partial<CimFrame>): Promise<void>;
}

export interface Client {
  readonly userId: number;
  readonly userName: string;
  readonly transport: FakeTransport;
  readonly session: Session;
}

/** Lets queued frame handling (promise chains, memory-store promises) finish. */
export const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
};

export async function buildFixture(options: { authSecret?: string; maxQueueBytes?: number } = {}): Promise<Fixture> {
  const clock = new ManualClock();
  const store = new MemoryRouteStore(clock);
  const memoryInbox = new MemoryInboxStore(clock);
  const metaHub = new MemoryMetaHub();
  metaHub.set({ id: SELF, host: '127.0.0.1', tcpPort: 11211, httpPort: 8081 });
  const meta = new MemoryMetaStore(metaHub);
  await meta.start();
  // Indirections so a test can swap the inbox or the remote transport after the node is built.
  const f = { inbox: memoryInbox as InboxStore, remote: { push: async () => Promise.reject(new Error('no other server')) } as PushTransport };
  const current = () => asDeviceInbox(f.inbox);
  const inbox: DeviceInboxStore = {
    append: (...a) => current().append(...a),
    pending: (...a) => current().pending(...a),
    ack: (...a) => current().ack(...a),
    maxSeq: (u) => current().maxSeq(u),
    linkDevice: (...a) => current().linkDevice(...a),
    unlinkDevice: (...a) => current().unlinkDevice(...a),
    devices: (u) => current().devices(u),
  };
  const remote: PushTransport = { push: (s, r) => f.remote.push(s, r) };
  const push = new LocalShortcutPushTransport(() => SELF, (r) => node.handlePush(r), remote);
  const router = new MessageRouter({ directory: store, inbox, meta, push, clock, log: silentLogger, limits: { maxEntries: 100, ttlMs: 60_000 } });
  const node: ServerNode = new ServerNode({
    selfId: SELF,
    store,
    inbox,
    router,
    clock,
    log: silentLogger,
    metrics: createServerMetrics(createMetricsRegistry('cim-server', false)),
    policy: { heartbeatTimeoutMs: 30_000, loginTimeoutMs: 5_000 },
    presenceTtlMs: 90_000,
    maxQueueBytes: options.maxQueueBytes ?? 1000,
    authSecret: options.authSecret,
  });
  const send = async (session: Session, frame: Partial<CimFrame>) => {
    node.frame(session, encodeMessage(frame));
    await settle();
  };
  const fixture: Fixture = {
    clock,
    store,
    memoryInbox,
    get inbox() {
      return f.inbox;
    },
    set inbox(v) {
      f.inbox = v;
    },
    get remote() {
      return f.remote;
    },
    set remote(v) {
      f.remote = v;
    },
    node,
    send,
    async connect(userName, props = { protocol: '2' }, kind = 'ws') {
      const account = await store.registerAccount(userName);
      const transport = new FakeTransport(kind);
      const session = node.open(transport);
      await send(session, { requestId: account.userId, reqMsg: userName, cmd: Command.LOGIN_REQUEST, properties: props });
      return { ...account, transport, session };
    },
  };
  return fixture;
}
