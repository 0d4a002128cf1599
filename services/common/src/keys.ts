/** Every Redis key, spelled once. CIM's names are kept where CIM has them (reference §6). */
export const keys = {
  /** string: userName (CIM) */
  account: (userId: number | string) => `cim-account:${userId}`,
  /** hash: userName -> userId. CIM used the bare user name as a key; a hash cannot collide with other keys. */
  accountNames: 'cim-account-names',
  /** string: the last user id handed out; ids are unique, increasing, close to the registration time in ms */
  lastAccountId: 'cim-account-last-id',
  /** set: userIds of logged-in users (CIM); an index, repaired on read against the routes */
  loginStatus: 'login-status',
  /** string with TTL: `host:tcpPort:httpPort` of the user's server (CIM); refreshed by that server's heartbeats */
  route: (userId: number | string) => `cim-route:${userId}`,
  /** list of JSON offline messages for a user, oldest first */
  offline: (userId: number | string) => `offline:msg:user:${userId}`,
} as const;
