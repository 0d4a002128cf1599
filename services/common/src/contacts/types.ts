/**
 * ContactStore: each user's contact list, its reverse index (who has me as a contact: the watchers a presence
 * event fans out to), the "only contacts may message me" setting, and the presence journal: which users were
 * announced online, and by which server (docs/delivery.md "Contacts and presence").
 *
 * Guarantees, for every backend:
 * - add/remove are idempotent (changed = false on a repeat); nobody is their own contact; a list holds at most
 *   `max` contacts (add answers 'full' beyond).
 * - watchers(u) is exactly the users whose list holds u (a stale reverse entry is filtered and repaired on read).
 * - allows(receiver, sender) is false only when the receiver turned onlyContacts on and the sender is not in
 *   the receiver's list.
 * - announceOnline is true only when the user was not announced anywhere (so one login gives one online event);
 *   announceOffline is true only for the call that removed an announcement naming that server (so a logout,
 *   an eviction and a crash sweep racing each other give one offline event).
 */

export interface ContactSettings {
  /** refuse private messages from users who are not in my contact list (7360) */
  readonly onlyContacts: boolean;
}

export type ContactAdd = 'added' | 'exists' | 'full';

export interface ContactStore {
  add(owner: number, contact: number, max: number): Promise<ContactAdd>;
  /** true when it was a contact */
  remove(owner: number, contact: number): Promise<boolean>;
  /** the owner's contacts, ascending */
  list(owner: number): Promise<number[]>;
  /** the users who have `userId` as a contact, ascending */
  watchers(userId: number): Promise<number[]>;
  settings(owner: number): Promise<ContactSettings>;
  setSettings(owner: number, settings: ContactSettings): Promise<void>;
  /** whether `sender` may send a private message to `receiver` (onlyContacts) */
  allows(receiver: number, sender: number): Promise<boolean>;
  /** records `userId` online on `server`; true when it was announced nowhere before */
  announceOnline(userId: number, server: string): Promise<boolean>;
  /** removes the announcement if it names `server`; true when this call removed it */
  announceOffline(userId: number, server: string): Promise<boolean>;
  /** servers that hold at least one announcement */
  announcedServers(): Promise<string[]>;
  /** users announced online on `server` */
  announcedOn(server: string): Promise<number[]>;
}

/** Contacts per user (--contacts-max is not an option: a fixed, generous bound keeps fan-outs bounded). */
export const MAX_CONTACTS = 1000;

export function checkUserId(name: string, id: number): void {
  if (!Number.isSafeInteger(id) || id <= 0) throw new RangeError(`contacts: bad ${name} ${String(id)}`);
}

export function checkServer(server: string): void {
  if (typeof server !== 'string' || server.length === 0 || server.length > 300) throw new RangeError('contacts: bad server id');
}
