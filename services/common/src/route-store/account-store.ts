/**
 * AccountStore: user names and ids (CIM's registerAccount). Backends: Redis (shared by every route
 * and server) and memory (tests, embedded mode); one contract suite (test/contracts/account-store.ts).
 *
 * Guarantee: registerAccount is idempotent by name and race-free: concurrent calls for one name
 * return one id, and ids of different names never collide. Accounts are never deleted.
 * Credentials (password mode): registerWithCredential creates the account and its credential (a password
 * hash, auth-password.ts) in one atomic step, or returns the existing account with its stored credential,
 * so of two racing registrations of one name exactly one sets the credential.
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
  /** Creates `userName` with `credential`, or returns the existing account and its credential (undefined: none set). */
  registerWithCredential(userName: string, credential: string): Promise<{ account: Account; credential: string | undefined; created: boolean }>;
  getCredential(userId: number): Promise<string | undefined>;
  /** Replaces the credential of an existing account; false when there is no such account. */
  setCredential(userId: number, credential: string): Promise<boolean>;
}
