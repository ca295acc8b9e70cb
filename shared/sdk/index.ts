/**
 * The ATLAS client SDK, for browsers and Node 20. Pure pieces (timeline, outbox, sync rounds,
 * backoff) are exported for reuse and tests; most callers need only AtlasClient and AtlasHttp.
 */
export { AtlasClient } from './client.ts';
export type { AtlasClientOptions, AtlasEvents, Session, SharedSessionStore } from './client.ts';
export { RoomStore } from './room-store.ts';
export type { PresenceInfo } from './room-store.ts';
export { AtlasHttp } from './http.ts';
export type { AtlasHttpOptions, FetchLike } from './http.ts';
export { AtlasApiError, isAtlasApiError, isSessionEnded, isTransient } from './errors.ts';
export type { AtlasErrorCode, ClientErrorCode } from './errors.ts';
export { RealtimeConnection, CLOSE_CODES } from './connection.ts';
export type {
  ConnectionState,
  RealtimeOptions,
  StopReason,
  WebSocketConstructor,
  WebSocketLike,
} from './connection.ts';
export { RoomTimeline } from './timeline.ts';
export type { EntryStatus, PendingInput, TimelineEntry } from './timeline.ts';
export { Outbox } from './outbox.ts';
export type { OutboxItem } from './outbox.ts';
export { SyncSession } from './sync.ts';
export { backoffDelayMs, DEFAULT_BACKOFF } from './backoff.ts';
export type { BackoffOptions } from './backoff.ts';
export { expiryToMs, renewDelayMs, tokenExpiryMs } from './expiry.ts';
export { parseServerFrame } from './frames.ts';
export { newClientMsgId } from './ids.ts';
export type * from './types.ts';
