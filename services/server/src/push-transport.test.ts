/** The PushTransport contract against the local shortcut into an in-process ServerNode (memory stores, fake sockets). */
import { waitFor } from '../../common/src/infra/wait.ts';
import { LocalShortcutPushTransport } from '../../common/src/push.ts';
import { describePushTransportContract } from '../../../test/contracts/push-transport.ts';
import { buildFixture, SELF } from './node-fixture.ts';

describePushTransportContract('local shortcut into a ServerNode', async () => {
  const fixture = await buildFixture({ maxQueueBytes: 1 << 20 });
  // Pushes to any other server go to `remote`, which here fails like an unreachable server.
  const transport = new LocalShortcutPushTransport(() => SELF, (request) => fixture.node.handlePush(request), {
    push: (server) => Promise.reject(new Error(`no server ${server}`)),
  });
  return {
    transport,
    server: SELF,
    unreachable: '127.0.0.1:1:1',
    async connect(userName) {
      const client = await fixture.connect(userName);
      const frames = client.transport.frames;
      return {
        userId: client.userId,
        frames,
        // Local writes are synchronous: the frame is there when the push resolves; the wait only bounds a bug.
        next: (match, what) => waitFor(what, () => frames.find(match), { timeoutMs: 5_000, intervalMs: 5 }),
      };
    },
    async close() {
      transport.close();
    },
  };
});
