/** ContactStore in memory: one process (`cim up` without Redis, unit tests); the same contract as Redis. */
import { checkServer, checkUserId, type ContactAdd, type ContactSettings, type ContactStore } from './types.ts';

export class MemoryContactStore implements ContactStore {
  readonly #lists = new Map<number, Set<number>>();
  readonly #watchers = new Map<number, Set<number>>();
  readonly #onlyContacts = new Set<number>();
  /** userId -> server it was announced online on */
  readonly #announced = new Map<number, string>();

  async add(owner: number, contact: number, max: number): Promise<ContactAdd> {
    checkUserId('owner', owner);
    checkUserId('contact', contact);
    if (owner === contact) throw new RangeError('contacts: nobody is their own contact');
    const list = this.#lists.get(owner) ?? new Set<number>();
    if (list.has(contact)) return 'exists';
    if (list.size >= max) return 'full';
    list.add(contact);
    this.#lists.set(owner, list);
    const w = this.#watchers.get(contact) ?? new Set<number>();
    w.add(owner);
    this.#watchers.set(contact, w);
    return 'added';
  }

  async remove(owner: number, contact: number): Promise<boolean> {
    checkUserId('owner', owner);
    checkUserId('contact', contact);
    this.#watchers.get(contact)?.delete(owner);
    return this.#lists.get(owner)?.delete(contact) ?? false;
  }

  async list(owner: number): Promise<number[]> {
    checkUserId('owner', owner);
    return [...(this.#lists.get(owner) ?? [])].sort((a, b) => a - b);
  }

  async watchers(userId: number): Promise<number[]> {
    checkUserId('userId', userId);
    return [...(this.#watchers.get(userId) ?? [])].sort((a, b) => a - b);
  }

  async settings(owner: number): Promise<ContactSettings> {
    checkUserId('owner', owner);
    return { onlyContacts: this.#onlyContacts.has(owner) };
  }

  async setSettings(owner: number, settings: ContactSettings): Promise<void> {
    checkUserId('owner', owner);
    if (settings.onlyContacts === true) this.#onlyContacts.add(owner);
    else this.#onlyContacts.delete(owner);
  }

  async allows(receiver: number, sender: number): Promise<boolean> {
    checkUserId('receiver', receiver);
    checkUserId('sender', sender);
    return !this.#onlyContacts.has(receiver) || (this.#lists.get(receiver)?.has(sender) ?? false);
  }

  async announceOnline(userId: number, server: string): Promise<boolean> {
    checkUserId('userId', userId);
    checkServer(server);
    const before = this.#announced.get(userId);
    this.#announced.set(userId, server);
    return before === undefined;
  }

  async announceOffline(userId: number, server: string): Promise<boolean> {
    checkUserId('userId', userId);
    checkServer(server);
    if (this.#announced.get(userId) !== server) return false;
    this.#announced.delete(userId);
    return true;
  }

  async announcedServers(): Promise<string[]> {
    return [...new Set(this.#announced.values())].sort();
  }

  async announcedOn(server: string): Promise<number[]> {
    checkServer(server);
    return [...this.#announced].filter(([, s]) => s === server).map(([u]) => u).sort((a, b) => a - b);
  }
}
