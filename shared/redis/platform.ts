import type { Cache, Presence, PubSub, RateLimiter } from '../ports/index.ts';
import type { RedisClientOptions } from './connection.ts';
import { createRedisCache } from './cache.ts';
import { createRedisPresence } from './presence.ts';
import { createRedisPubSub } from './pubsub.ts';
import { createRedisRateLimiter } from './rate-limiter.ts';

/** The Platform members Redis plays. */
export interface RedisPlatformParts {
  pubsub: PubSub;
  presence: Presence;
  cache: Cache;
  limiter: RateLimiter;
  close(): Promise<void>;
}

export interface RedisPlatformOptions extends RedisClientOptions {
  presenceTtlMs: number;
}

/**
 * Opens pub/sub, presence, cache and rate limits on one Redis (five connections: pub/sub needs
 * two, and each part owns its own so that a slow script never queues behind a cache read).
 * If any part cannot connect, the others are closed and the failure is rethrown.
 */
export async function openRedisPlatformParts(
  url: string,
  options: RedisPlatformOptions,
): Promise<RedisPlatformParts> {
  const opened = await Promise.allSettled([
    createRedisPubSub(url, options),
    createRedisPresence({ ...options, url, ttlMs: options.presenceTtlMs }),
    createRedisCache(url, options),
    createRedisRateLimiter(url, options),
  ] as const);
  const [pubsub, presence, cache, limiter] = opened;
  if (
    pubsub.status === 'rejected' ||
    presence.status === 'rejected' ||
    cache.status === 'rejected' ||
    limiter.status === 'rejected'
  ) {
    await Promise.allSettled(
      opened.map((part) => (part.status === 'fulfilled' ? part.value.close() : undefined)),
    );
    const failure = opened.find((part) => part.status === 'rejected');
    throw failure?.reason;
  }
  const parts = {
    pubsub: pubsub.value,
    presence: presence.value,
    cache: cache.value,
    limiter: limiter.value,
  };
  return {
    ...parts,
    async close() {
      await Promise.allSettled(Object.values(parts).map((part) => part.close()));
    },
  };
}
