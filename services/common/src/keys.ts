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
  // The inbox (docs/delivery.md). `{<uid>}` is a Redis Cluster hash tag: one user's three keys live in
  // one slot, so the Lua scripts that touch them together run on a cluster too.
  /** sorted set: the user's pending entries, score = seq, member = JSON entry (seq first) */
  inbox: (userId: number | string) => `cim:inbox:{${userId}}`,
  /** string counter: the last seq given to the user (INCR); never expires, so seqs never repeat */
  inboxSeq: (userId: number | string) => `cim:inbox:seq:{${userId}}`,
  /** sorted set: `senderId:msgId` -> seq, for idempotent appends; trimmed to 2 x the inbox bound */
  inboxIds: (userId: number | string) => `cim:inbox:ids:{${userId}}`,
  /** hash: senderId -> pending entries of that sender in the inbox (the --inbox-max-per-sender bound); expires with the inbox */
  inboxSenders: (userId: number | string) => `cim:inbox:senders:{${userId}}`,
  // Server-side history of a conversation (`p:<low id>:<high id>`), hash-tagged per conversation.
  /** sorted set: the conversation's recent messages, score = seq, member = JSON entry (seq first) */
  history: (conversation: string) => `cim:history:{${conversation}}`,
  /** string counter: the conversation's last seq; never expires */
  historySeq: (conversation: string) => `cim:history:seq:{${conversation}}`,
  /** sorted set: `senderId:msgId` -> seq, for idempotent appends; trimmed to 2 x the bound */
  historyIds: (conversation: string) => `cim:history:ids:{${conversation}}`,
} as const;
