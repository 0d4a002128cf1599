/**
 * Coalesces the frames written to one socket in one event-loop iteration into one write syscall: the first
 * write corks the socket, and it is uncorked in the iteration's check phase, after every I/O callback of the
 * iteration ran (a login replay, the MESSAGE_ACKs of a batch of Redis replies, a push batch, receipts): at
 * most one iteration later than an immediate write, and one syscall instead of one per frame.
 */
import type { Writable } from 'node:stream';

export function turnCorker(socket: Writable): () => void {
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  return () => {
    if (corked) return;
    corked = true;
    socket.cork();
    setImmediate(uncork);
  };
}
