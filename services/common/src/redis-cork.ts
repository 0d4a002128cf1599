/**
 * One write system call per event-loop iteration for each Redis connection, instead of one per command.
 *
 * ioredis writes every command to its socket as it is sent. Without auto-pipelining (redis-client.ts says why
 * it is off) that is one `write` per command: the route's CPU profile at 3,000 `/p2pRoute`/s had 17.5 % of its
 * time in `writeUtf8String`, the write of those command strings. Here the first command of an iteration corks
 * the connection's socket and the iteration's check phase uncorks it (turn-cork.ts, as for clients' sockets), so
 * every command sent meanwhile (by any request) leaves in one `writev`. Commands are still written to the socket at once, in order: nothing is
 * queued or copied beside it, unlike auto-pipelining's Pipeline per iteration.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Socket } from 'node:net';
import { TurnCork } from './turn-cork.ts';

const kTurn = Symbol('cim.redisTurnCork');
const kPatched = Symbol('cim.redisCorkPerIteration');
/** ioredis replaces its socket on every reconnect: each socket carries its own cork. */
type CorkableSocket = Socket & { [kTurn]?: TurnCork };

function corkThisIteration(client: Redis): void {
  const socket = (client as unknown as { stream?: CorkableSocket }).stream;
  if (!socket || client.status !== 'ready') return;
  (socket[kTurn] ??= new TurnCork(socket)).cork();
}

/** Makes every command `client` sends corked per iteration (a Cluster: each of its node connections, also later ones). */
export function corkPerIteration(client: Redis | Cluster): void {
  if (client.isCluster) {
    const cluster = client as Cluster;
    for (const node of cluster.nodes()) corkPerIteration(node);
    cluster.on('+node', (node: Redis) => corkPerIteration(node));
    return;
  }
  const redis = client as Redis & { [kPatched]?: true };
  if (redis[kPatched]) return;
  redis[kPatched] = true;
  const send = redis.sendCommand;
  redis.sendCommand = function (this: Redis, ...args: Parameters<Redis['sendCommand']>) {
    corkThisIteration(this);
    return send.apply(this, args);
  } as Redis['sendCommand'];
}
