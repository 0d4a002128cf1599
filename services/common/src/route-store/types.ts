/**
 * The route's stores, one port per guarantee: AccountStore (account-store.ts), PresenceStore
 * (presence-store.ts) and the acknowledged InboxStore (../inbox/types.ts, which replaced CIM's
 * offline list). RouteStore is accounts + presence on one backend connection, as the services
 * wire them.
 */
import type { AccountStore } from './account-store.ts';
import type { PresenceStore } from './presence-store.ts';

export type { Account, AccountStore } from './account-store.ts';
export type { LoginResult, PresenceStore, RefreshResult } from './presence-store.ts';

export type RouteStore = AccountStore &
  PresenceStore & {
    /** true when the backend is connected and usable (for /readyz). */
    isReady(): boolean;
    close(): Promise<void>;
  };
