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
  // Several devices (--login-policy multi): each linked device has its own inbox and senders hash, in the
  // user's slot; the device '' is the default inbox above.
  /** hash: linked device -> lastSeen (ms) */
  inboxDevices: (userId: number | string) => `cim:inbox:devices:{${userId}}`,
  /** sorted set: the device's pending entries, like inbox */
  deviceInbox: (userId: number | string, device: string) => (device === '' ? `cim:inbox:{${userId}}` : `cim:inbox:{${userId}}:d:${device}`),
  /** hash: like inboxSenders, for the device's inbox */
  deviceInboxSenders: (userId: number | string, device: string) => (device === '' ? `cim:inbox:senders:{${userId}}` : `cim:inbox:senders:{${userId}}:d:${device}`),
  // Server-side history of a conversation (`p:<low id>:<high id>`), hash-tagged per conversation.
  /** sorted set: the conversation's recent messages, score = seq, member = JSON entry (seq first) */
  history: (conversation: string) => `cim:history:{${conversation}}`,
  /** string counter: the conversation's last seq; never expires */
  historySeq: (conversation: string) => `cim:history:seq:{${conversation}}`,
  /** sorted set: `senderId:msgId` -> seq, for idempotent appends; trimmed to 2 x the bound */
  historyIds: (conversation: string) => `cim:history:ids:{${conversation}}`,
  // Named groups (docs/delivery.md "Named groups"): one group's keys share the hash tag `{g:<id>}`, the same as
  // its history conversation, so its scripts run on a Redis Cluster too.
  /** string: the last groupId handed out */
  groupLastId: 'cim:group:last-id',
  /** hash: name, owner, open ("1"/"0"), createdAt */
  group: (groupId: number | string) => `cim:group:{g:${groupId}}`,
  /** hash: userId -> role (owner, admin, member) */
  groupMembers: (groupId: number | string) => `cim:group:members:{g:${groupId}}`,
  /** string counter: the group's last gseq; never expires */
  groupSeq: (groupId: number | string) => `cim:group:seq:{g:${groupId}}`,
  /** sorted set: `senderId:msgId` -> gseq, so a retried send keeps its gseq; trimmed */
  groupIds: (groupId: number | string) => `cim:group:ids:{g:${groupId}}`,
  /** string with TTL: the holder of the group's fan-out lock */
  groupLock: (groupId: number | string) => `cim:group:lock:{g:${groupId}}`,
  /** set: the user's groupIds (an index of the members hashes, repaired on read) */
  userGroups: (userId: number | string) => `cim:group:mine:{${userId}}`,
  // Contacts and presence (docs/delivery.md "Contacts and presence"): a user's list and setting share `{<uid>}`.
  /** set: the user's contacts */
  contacts: (userId: number | string) => `cim:contacts:{${userId}}`,
  /** set: who has the user as a contact (reverse index, repaired on read) */
  contactWatchers: (userId: number | string) => `cim:contacts:of:{${userId}}`,
  /** string "1": only contacts may send the user private messages */
  contactsOnly: (userId: number | string) => `cim:contacts:only:{${userId}}`,
  /** hash userId -> server: users announced online (the presence journal; one slot) */
  presenceAnnounced: 'cim:presence:{presence}:users',
  /** hash server -> count of announced users */
  presenceServers: 'cim:presence:{presence}:servers',
} as const;
