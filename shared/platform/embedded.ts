import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { migrate } from '../db/migrate.ts';
import { openPgliteSql } from '../db/pglite.ts';
import { createMemoryCache } from '../embedded/cache.ts';
import { openFileMessageLog } from '../embedded/message-log.ts';
import { openFileMessageStore } from '../embedded/message-store.ts';
import { createMemoryPresence } from '../embedded/presence.ts';
import { createMemoryPubSub } from '../embedded/pubsub.ts';
import { createMemoryRateLimiter } from '../embedded/rate-limiter.ts';
import type { Platform } from '../ports/index.ts';

/** The consumer group that persists the message log into the message store. */
export const PERSIST_GROUP = 'message-store';

/**
 * Every backing service in this process, durable under `dataDir`: PostgreSQL via PGlite, the
 * message log and store as fsynced files, and in-memory pub/sub, presence, cache and limits
 * (which need no durability: they are rebuilt by clients reconnecting).
 */
export async function openEmbeddedPlatform(options: {
  dataDir: string;
  presenceTtlMs: number;
}): Promise<Platform> {
  const { dataDir } = options;
  await mkdir(dataDir, { recursive: true });
  const sql = await openPgliteSql(join(dataDir, 'postgres'));
  await migrate(sql);
  const messageLog = await openFileMessageLog({ dir: join(dataDir, 'message-log') });
  const messageStore = await openFileMessageStore({ dir: join(dataDir, 'message-store') });
  // The persisting consumer: fills the store from the log. Waiting for it here means a message
  // made durable in the log just before a crash is in the store again before any seq is handed
  // out, so the sequencer never reuses one.
  const persister = await messageLog.consume(PERSIST_GROUP, (batch) => messageStore.put(batch));
  await persister.caughtUp();
  const pubsub = createMemoryPubSub();
  const presence = createMemoryPresence({ ttlMs: options.presenceTtlMs });
  const cache = createMemoryCache({});
  const limiter = createMemoryRateLimiter({});
  return {
    sql,
    messageLog,
    messageStore,
    pubsub,
    presence,
    cache,
    limiter,
    async close() {
      await persister.stop();
      await pubsub.close();
      await presence.close();
      await messageLog.close();
      await messageStore.close();
      await cache.close();
      await limiter.close();
      await sql.close();
    },
  };
}
