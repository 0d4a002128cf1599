import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';

/**
 * Where picked ports come from: below the kernel's ephemeral range, as outgoing connections and port-0 binds draw
 * from that range and could take a port between our check and the service's own bind (redis-server, ZooKeeper,
 * etcd and kube-apiserver are given a port; they cannot report one the OS picked), and below Kubernetes' NodePorts.
 */
const PICK_FROM = 10_000;
const PICK_TO = 30_000;
const PICK_TRIES = 64;
/** Handed out by this process: never twice, even when the first taker has not bound it yet. */
const handedOut = new Set<number>();

/** The kernel's ephemeral port range (Linux), or its usual default elsewhere. */
export function ephemeralPortRange(): readonly [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low!, high!];
  } catch {
    // not Linux
  }
  return [32_768, 60_999];
}

/**
 * A TCP port free on 127.0.0.1 now, for a process that binds it itself: a random one outside the ephemeral range,
 * so nothing but another explicit pick can take it before that process binds (falls back to one the OS picks).
 */
export async function freePort(): Promise<number> {
  const [low, high] = ephemeralPortRange();
  for (let i = 0; i < PICK_TRIES; i++) {
    const port = randomInt(PICK_FROM, PICK_TO);
    if ((port >= low && port <= high) || handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  return osPickedPort();
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A port that was free on 127.0.0.1 a moment ago, picked by the OS (from the ephemeral range). */
function osPickedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Sends a ZooKeeper four-letter word and returns the reply ('' when the port does not answer). */
export function fourLetterWord(port: number, word: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const socket = connect({ host: '127.0.0.1', port });
    const done = () => {
      socket.destroy();
      resolve(data);
    };
    socket.setTimeout(timeoutMs, done);
    socket.on('connect', () => socket.write(word));
    socket.on('data', (chunk) => (data += chunk.toString('utf8')));
    socket.on('end', done);
    socket.on('error', done);
  });
}

// Waiting lives in wait.ts; re-exported here for the importers that predate it.
export { waitUntil } from './wait.ts';
