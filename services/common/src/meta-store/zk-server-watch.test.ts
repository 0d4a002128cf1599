import { describe, expect, it } from 'vitest';
import type { ServerInfo } from '../server-address.ts';
import type { ZkOps } from './zk-ops.ts';
import { ZkServerWatch } from './zk-server-watch.ts';

const NODE = '127.0.0.1:1000:2000';
const childrenChanged = { getType: () => 4, getName: () => 'NODE_CHILDREN_CHANGED', getPath: () => '/cim', toString: () => 'NODE_CHILDREN_CHANGED@/cim' };

/**
 * ZkOps whose getChildren answers with the next list and, when told to, runs the watcher before the caller's
 * continuation: what node-zookeeper-client does when the reply and the notification arrive in one socket read.
 */
function fakeOps(lists: string[][], fireWithReply: boolean[]) {
  let call = 0;
  const ops = {
    getChildren(_path: string, watcher: (event: unknown) => void): Promise<string[]> {
      const i = call++;
      const reply = Promise.resolve(lists[i] ?? []);
      if (fireWithReply[i]) watcher(childrenChanged);
      return reply;
    },
    getData: () => Promise.resolve(undefined),
  };
  return { ops: ops as unknown as ZkOps, calls: () => call };
}

describe('ZkServerWatch', () => {
  it('reads the children again when their watch fires before the reply is handled', async () => {
    let kicks = 0;
    const watch = new ZkServerWatch('/cim', () => true, () => kicks++);
    const published: (readonly ServerInfo[])[] = [];
    watch.onChange((s) => published.push(s));
    // The first reply ([]) is stale by the time it is handled: the server's node was created meanwhile.
    const { ops, calls } = fakeOps([[], [NODE]], [true, false]);

    await watch.armChildren(ops, 1);
    expect(kicks).toBe(1);
    expect(watch.childrenArmed).toBe(false); // the sync pass the kick started must read again
    expect(published).toEqual([]); // the stale empty list was not published

    await watch.armChildren(ops, 1); // what the kicked pass does
    expect(calls()).toBe(2);
    expect(watch.childrenArmed).toBe(true);
    expect(watch.servers().map((s) => s.id)).toEqual([NODE]);
    expect(kicks).toBe(1);
  });

  it('a watch of a replaced session, or one already superseded, neither kicks nor disarms', async () => {
    let epoch = 1;
    let kicks = 0;
    const watch = new ZkServerWatch('/cim', (e) => e === epoch, () => kicks++);
    const fired: ((event: unknown) => void)[] = [];
    const ops = {
      getChildren: (_p: string, w: (event: unknown) => void) => {
        fired.push(w);
        return Promise.resolve([NODE]);
      },
    } as unknown as ZkOps;
    await watch.armChildren(ops, 1);
    await watch.armChildren(ops, 1); // supersedes the first watch
    fired[0]!(childrenChanged);
    expect([kicks, watch.childrenArmed]).toEqual([0, true]);
    epoch = 2; // a new session
    watch.reset();
    fired[1]!(childrenChanged);
    expect([kicks, watch.childrenArmed]).toEqual([0, false]);
  });

  it('a failed read leaves the children unarmed, so the next pass retries', async () => {
    const watch = new ZkServerWatch('/cim', () => true, () => undefined);
    const ops = { getChildren: () => Promise.reject(new Error('connection loss')) } as unknown as ZkOps;
    await expect(watch.armChildren(ops, 1)).rejects.toThrow('connection loss');
    expect(watch.childrenArmed).toBe(false);
  });
});
