/**
 * node-zookeeper-client with deadlines. The library queues a request while it is not connected and
 * never fails it, and close() only queues a CLOSE_SESSION packet: on a dead or silent ZooKeeper both
 * wait forever. Every call here settles within `timeoutMs`, and disposeClient() really ends a client.
 */
import type { Socket } from 'node:net';
import zookeeper, { type Client, type Event, type Stat } from 'node-zookeeper-client';

const { CreateMode } = zookeeper;

export class ZkTimeoutError extends Error {
  constructor(op: string, path: string, ms: number) {
    super(`zookeeper ${op} ${path} did not answer within ${ms} ms`);
    this.name = 'ZkTimeoutError';
  }
}

export function codeOf(err: unknown): number | undefined {
  return err && typeof (err as { getCode?: unknown }).getCode === 'function' ? (err as { getCode(): number }).getCode() : undefined;
}

/** Runs one callback-style call; rejects on its error or when it does not answer in time. */
function call<T>(op: string, path: string, timeoutMs: number, start: (done: (err: unknown, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(new ZkTimeoutError(op, path, timeoutMs));
    }, timeoutMs);
    timer.unref(); // a pending request must not keep an exiting process alive
    try {
      start((err, value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err instanceof Error ? err : new Error(String(err)));
        else resolve(value as T);
      });
    } catch (err) {
      // the library throws synchronously on invalid arguments
      settled = true;
      clearTimeout(timer);
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

/** The calls the store makes, each bounded by the same timeout. */
export class ZkOps {
  readonly client: Client;
  readonly timeoutMs: number;

  constructor(client: Client, timeoutMs: number) {
    this.client = client;
    this.timeoutMs = timeoutMs;
  }

  mkdirp(path: string): Promise<void> {
    return call('mkdirp', path, this.timeoutMs, (done) => this.client.mkdirp(path, CreateMode.PERSISTENT, (e: unknown) => done(e)));
  }
  createEphemeral(path: string, body: Buffer): Promise<void> {
    return call('create', path, this.timeoutMs, (done) => this.client.create(path, body, CreateMode.EPHEMERAL, (e: unknown) => done(e)));
  }
  exists(path: string): Promise<Stat | undefined> {
    return call('exists', path, this.timeoutMs, (done) => this.client.exists(path, (e: unknown, s: Stat) => done(e, s ?? undefined)));
  }
  setData(path: string, body: Buffer): Promise<void> {
    return call('setData', path, this.timeoutMs, (done) => this.client.setData(path, body, -1, (e: unknown) => done(e)));
  }
  remove(path: string): Promise<void> {
    return call('remove', path, this.timeoutMs, (done) => this.client.remove(path, -1, (e: unknown) => done(e)));
  }
  getChildren(path: string, watcher: (event: Event) => void): Promise<string[]> {
    return call('getChildren', path, this.timeoutMs, (done) => this.client.getChildren(path, watcher, (e: unknown, c: string[]) => done(e, c)));
  }
  getData(path: string, watcher: (event: Event) => void): Promise<Buffer | undefined> {
    return call('getData', path, this.timeoutMs, (done) => this.client.getData(path, watcher, (e: unknown, d: Buffer) => done(e, d ?? undefined)));
  }
}

/** The library's private connection manager: the only handle on its socket and its data path. */
interface ConnectionManagerInternals {
  socket?: Socket;
  state: number;
  sessionTimeout: number;
  onSocketData(this: ConnectionManagerInternals, buffer: Buffer): void;
  onSocketConnected(this: ConnectionManagerInternals): void;
}

const CM_CONNECTED = 2; // ConnectionManager.STATES.CONNECTED
const disposed = new WeakSet<Client>();
const livenessTimers = new WeakMap<Client, NodeJS.Timeout>();

function internals(client: Client): ConnectionManagerInternals | undefined {
  return (client as unknown as { connectionManager?: ConnectionManagerInternals }).connectionManager;
}

function socketOf(client: Client): Socket | undefined {
  return internals(client)?.socket;
}

/**
 * createClient, hardened: (1) a connected socket on which ZooKeeper stays silent for 2/3 of the
 * session timeout (it answers pings sent every 1/3) is destroyed, so the library reconnects (the Java
 * client's read timeout; without it a silent peer is "connected" forever); (2) bytes the library
 * cannot parse drop the connection instead of throwing out of a socket handler (which would crash
 * the process); (3) once disposed, a socket opened by an already-scheduled reconnect is closed
 * before it says anything.
 */
export function createZkClient(connect: string, options: { sessionTimeout: number; spinDelay: number }, onBadData: (err: unknown) => void): Client {
  const client = zookeeper.createClient(connect, { ...options, retries: 0 });
  const cm = internals(client);
  if (!cm) return client;
  let lastRead = Date.now();
  const onSocketData = cm.onSocketData;
  const onSocketConnected = cm.onSocketConnected;
  // The library binds these when it opens a socket, so instance overrides apply to every later socket.
  cm.onSocketData = function (buffer) {
    if (disposed.has(client)) return;
    lastRead = Date.now();
    try {
      onSocketData.call(this, buffer);
    } catch (err) {
      onBadData(err);
      this.socket?.destroy();
    }
  };
  cm.onSocketConnected = function () {
    if (disposed.has(client)) return void this.socket?.destroy();
    lastRead = Date.now();
    onSocketConnected.call(this);
  };
  const readTimeout = () => Math.floor((cm.sessionTimeout * 2) / 3);
  const timer = setInterval(() => {
    if (cm.state === CM_CONNECTED && Date.now() - lastRead > readTimeout()) cm.socket?.destroy();
  }, Math.max(100, Math.floor(readTimeout() / 4)));
  timer.unref();
  livenessTimers.set(client, timer);
  return client;
}

/**
 * Ends a client within `graceMs`: asks ZooKeeper to close the session (so its ephemeral nodes vanish
 * at once) when it is connected, then destroys the socket whatever happened. Never throws.
 */
export function disposeClient(client: Client, graceMs: number): Promise<void> {
  const connected = client.getState() === zookeeper.State.SYNC_CONNECTED;
  clearInterval(livenessTimers.get(client));
  try {
    client.close();
  } catch {
    // already closed
  }
  const destroy = () => {
    disposed.add(client);
    const socket = socketOf(client);
    if (socket && !socket.destroyed) socket.destroy();
  };
  const socket = socketOf(client);
  if (!connected || !socket || socket.destroyed) {
    destroy();
    return Promise.resolve();
  }
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      destroy();
      resolve();
    }, graceMs);
    timer.unref();
    socket.once('close', () => {
      clearTimeout(timer);
      disposed.add(client);
      resolve();
    });
  });
}
