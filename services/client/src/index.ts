/** Public surface of the chat client SDK (package export "./client"). */
export { CimClient, createClient } from './sdk/client.ts';
export type { ChatMessage, ClientEvents, ClientInfo, ClientOptions, ClientState, ContactInfo, PresenceEvent, ReceiptEvent, SendOptions, SendResult, StateChange } from './sdk/client.ts';
export { CimClientError, ClientErrorCode, isCimClientError } from './sdk/errors.ts';
export { MemorySeenStore, seenKey, DEFAULT_SEEN_CAPACITY } from './sdk/seen-store.ts';
export type { SeenStore } from './sdk/seen-store.ts';
export { backoffDelayMs, DEFAULT_BACKOFF } from '../../common/src/backoff.ts';
export type { BackoffPolicy } from '../../common/src/backoff.ts';
export type { HistoryMessage, HistoryPage, OnlineUser, ServerAssignment } from './sdk/route-api.ts';
export type { Attachment, Downloaded, SendFileOptions } from './sdk/files.ts';
export type { TransportKind, Via } from './sdk/transport.ts';
export type { Protocol } from './sdk/cim-mode.ts';
