/**
 * The server list of ZkMetaStore: a children watch on the root and a data watch per server node, re-armed on
 * every session, published to listeners as one sorted snapshot whenever it really changes.
 */
import zookeeper, { type Event } from 'node-zookeeper-client';
import { parseServerNodeData, serverInfo, type ServerInfo, type ServerNodeData } from '../server-address.ts';
import type { ServersListener } from './types.ts';
import { codeOf, type ZkOps } from './zk-ops.ts';

const { Exception } = zookeeper;

export class ZkServerWatch {
  readonly #root: string;
  /** false: `epoch` is no longer the current session (replaced or closed) */
  readonly #current: (epoch: number) => boolean;
  /** a watch fired: run a sync pass, which re-arms what is missing */
  readonly #kick: () => void;
  readonly #listeners = new Set<ServersListener>();
  readonly #nodeData = new Map<string, ServerNodeData | undefined>();
  #childWatchArmed = false;
  /** watch tokens: a watcher whose token is no longer current (superseded, older client) is ignored */
  #watchToken = 0;
  #childWatchToken = 0;
  readonly #dataWatch = new Map<string, number>();
  #snapshot: readonly ServerInfo[] = Object.freeze([]);

  constructor(root: string, current: (epoch: number) => boolean, kick: () => void) {
    this.#root = root;
    this.#current = current;
    this.#kick = kick;
  }

  /** A new session: no watch of the old one will fire for us. */
  reset(): void {
    this.#childWatchArmed = false;
    this.#dataWatch.clear();
  }

  get childrenArmed(): boolean {
    return this.#childWatchArmed;
  }

  servers(): readonly ServerInfo[] {
    return this.#snapshot;
  }

  onChange(listener: ServersListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Reads the children and leaves a watch. Marked armed BEFORE the request: the library runs a notification
   * that arrives in the same socket read as the reply before our continuation does, so a flag set after the
   * await would overwrite "fired" and the change would never be read (seen under load after a restart).
   */
  async armChildren(ops: ZkOps, epoch: number): Promise<void> {
    const token = (this.#childWatchToken = ++this.#watchToken);
    this.#childWatchArmed = true;
    const fired = () => token !== this.#childWatchToken || !this.#childWatchArmed;
    let children: string[];
    try {
      children = await ops.getChildren(this.#root, () => {
        if (!this.#current(epoch) || fired()) return;
        this.#childWatchArmed = false;
        this.#kick();
      });
    } catch (err) {
      if (token === this.#childWatchToken) this.#childWatchArmed = false;
      throw err;
    }
    // Already fired: this list is stale, and the pass the watch kicked reads it again.
    if (!this.#current(epoch) || fired()) return;
    const names = new Set(children);
    for (const known of [...this.#nodeData.keys()]) {
      if (names.has(known)) continue;
      this.#nodeData.delete(known);
      this.#dataWatch.delete(known);
    }
    for (const child of children) if (!this.#nodeData.has(child)) this.#nodeData.set(child, undefined);
    // Publish the names at once (a vanished server must stop being chosen now); data follows.
    this.#publish();
  }

  /** Arms the data watch of every known server that has none on this session. */
  async armMissingData(ops: ZkOps, epoch: number): Promise<void> {
    for (const child of [...this.#nodeData.keys()]) {
      if (!this.#current(epoch)) return;
      if (!this.#dataWatch.has(child)) await this.#armData(ops, epoch, child);
    }
  }

  async #armData(ops: ZkOps, epoch: number, child: string): Promise<void> {
    const token = ++this.#watchToken;
    this.#dataWatch.set(child, token);
    try {
      const data = await ops.getData(`${this.#root}/${child}`, (event: Event) => {
        if (!this.#current(epoch) || this.#dataWatch.get(child) !== token) return;
        this.#dataWatch.delete(child);
        // NODE_DELETED is the children watch's business
        if (event.getType() === zookeeper.Event.NODE_DATA_CHANGED) this.#kick();
      });
      if (!this.#current(epoch) || !this.#nodeData.has(child)) return;
      this.#nodeData.set(child, parseServerNodeData(data));
      this.#publish();
    } catch (err) {
      if (this.#dataWatch.get(child) === token) this.#dataWatch.delete(child);
      if (codeOf(err) !== Exception.NO_NODE) throw err; // vanished: the children watch drops it
    }
  }

  #publish(): void {
    const next = [...this.#nodeData.keys()]
      .map((id) => serverInfo(id, this.#nodeData.get(id)))
      .filter((s): s is ServerInfo => s !== undefined)
      .sort((a, b) => a.id.localeCompare(b.id));
    const same =
      next.length === this.#snapshot.length &&
      next.every((s, i) => s.id === this.#snapshot[i]!.id && JSON.stringify(s.data) === JSON.stringify(this.#snapshot[i]!.data));
    if (same) return;
    this.#snapshot = Object.freeze(next);
    for (const l of this.#listeners) l(this.#snapshot);
  }
}
