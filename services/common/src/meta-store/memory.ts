import { formatServerAddress, type ServerAddress, type ServerInfo, type ServerNodeData } from '../server-address.ts';
import type { MetaStore, Registration, ServersListener } from './types.ts';

/** The shared state behind MemoryMetaStores of one process (what a ZooKeeper ensemble is to ZkMetaStores). */
export class MemoryMetaHub {
  readonly #servers = new Map<string, ServerInfo>();
  readonly #listeners = new Set<ServersListener>();

  snapshot(): readonly ServerInfo[] {
    return Object.freeze([...this.#servers.values()].sort((a, b) => a.id.localeCompare(b.id)));
  }
  set(info: ServerInfo): void {
    this.#servers.set(info.id, info);
    this.#emit();
  }
  delete(id: string): void {
    if (this.#servers.delete(id)) this.#emit();
  }
  subscribe(listener: ServersListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  #emit(): void {
    const snap = this.snapshot();
    for (const l of this.#listeners) l(snap);
  }
}

export class MemoryMetaStore implements MetaStore {
  readonly #hub: MemoryMetaHub;
  readonly #owned = new Set<string>();
  readonly #unsubscribers: (() => void)[] = [];
  #started = false;

  constructor(hub: MemoryMetaHub) {
    this.#hub = hub;
  }

  async start(): Promise<void> {
    this.#started = true;
  }

  async register(address: ServerAddress, data: ServerNodeData): Promise<Registration> {
    const id = formatServerAddress(address);
    this.#hub.set({ ...address, id, data });
    this.#owned.add(id);
    return {
      update: async (next) => {
        if (this.#owned.has(id)) this.#hub.set({ ...address, id, data: next });
      },
      deregister: async () => {
        this.#owned.delete(id);
        this.#hub.delete(id);
      },
    };
  }

  servers(): readonly ServerInfo[] {
    return this.#hub.snapshot();
  }

  onChange(listener: ServersListener): () => void {
    const off = this.#hub.subscribe(listener);
    this.#unsubscribers.push(off);
    return off;
  }

  isReady(): boolean {
    return this.#started;
  }

  async close(): Promise<void> {
    for (const id of this.#owned) this.#hub.delete(id);
    this.#owned.clear();
    for (const off of this.#unsubscribers) off();
  }
}
