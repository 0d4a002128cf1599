/**
 * Coalesces the frames written to one socket in one event-loop turn into one write syscall: the first write
 * of a turn corks the socket, and it is uncorked when the turn's synchronous work is done (a login replay, an
 * ack and a receipt, a push batch). A socket that gets one frame per turn pays only the cork bookkeeping.
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
    process.nextTick(uncork);
  };
}
