import type { Cache, RateLimiter } from './cache.ts';
import type { MessageLog, MessageStore } from './messages.ts';
import type { Presence } from './presence.ts';
import type { PubSub } from './pubsub.ts';
import type { Sql } from './sql.ts';

export type * from './cache.ts';
export type * from './messages.ts';
export type * from './presence.ts';
export type * from './pubsub.ts';
export type * from './sql.ts';
export { channels } from './pubsub.ts';

/** Every backing service a role may need, embedded or real, behind the same interfaces. */
export interface Platform {
  sql: Sql;
  messageLog: MessageLog;
  messageStore: MessageStore;
  pubsub: PubSub;
  presence: Presence;
  cache: Cache;
  limiter: RateLimiter;
  close(): Promise<void>;
}
