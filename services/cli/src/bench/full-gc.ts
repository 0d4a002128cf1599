/**
 * A full garbage collection in another Node process, through its V8 inspector (the bench starts its servers
 * with --inspect on a loopback port). Memory per connection is then measured on live objects only, as
 * heap snapshots count it, instead of whatever garbage the logins left behind.
 */
import { WebSocket } from 'ws';

const TIMEOUT_MS = 30_000;

/** Sends HeapProfiler.collectGarbage to the inspector at `url` and resolves once V8 has finished it. */
export function collectGarbage(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => fail(new Error(`no answer from the inspector at ${url} within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    const fail = (err: Error) => {
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    };
    ws.on('error', fail);
    ws.on('open', () => ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' })));
    ws.on('message', (data) => {
      const answer = JSON.parse(String(data)) as { id?: number; error?: { message: string } };
      if (answer.id !== 1) return; // events of other domains
      if (answer.error) return fail(new Error(`inspector: ${answer.error.message}`));
      clearTimeout(timer);
      ws.close();
      resolve();
    });
  });
}
