/**
 * AccountStore: user names and ids (CIM's registerAccount). Backends: Redis (shared by every route
 * and server) and memory (tests, embedded mode); one contract suite (test/contracts/account-store.ts).
 *
 * Guarantee: registerAccount is idempotent by name and race-free: concurrent calls for one name
 * return one id, and ids of different names never collide. Accounts are never deleted.
 */

export interface Account {
  readonly userId: number;
  readonly userName: string;
}

export interface AccountStore {
  /** The account of `userName`, created on first use. */
  registerAccount(userName: string): Promise<Account>;
  getAccount(userId: number): Promise<Account | undefined>;
  /** The accounts that exist among `userIds`, in the given order; unknown ids are left out. */
  getAccounts(userIds: readonly number[]): Promise<Account[]>;
}
