/**
 * `cim chat` records a message as shown, and acknowledges it, right after writing its line. On Linux a
 * write to a pipe that is full is queued inside the process, so a SIGKILL just after could lose lines the
 * server and the seen-file already count as shown. Blocking writes (what Node already does for files
 * and terminals) make "written" mean "in the kernel's pipe": a slow reader then slows the chat down
 * instead of losing its output.
 */
import type { Writable } from 'node:stream';

interface BlockableHandle {
  setBlocking?: (blocking: boolean) => number;
}

/** Makes `stream`'s writes synchronous when it is a pipe or socket; true when they are (or already were). */
export function makeWritesSynchronous(stream: Writable): boolean {
  const handle = (stream as Writable & { _handle?: BlockableHandle })._handle;
  if (typeof handle?.setBlocking !== 'function') return false;
  return handle.setBlocking(true) === 0;
}
