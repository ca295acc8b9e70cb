import type { Cache } from '../ports/cache.ts';
import {
  attempt,
  closableClient,
  connectRedis,
  redisPrefix,
  type RedisClientOptions,
} from './connection.ts';

/**
 * The shared cache in Redis under `atlas:cache:`. Expiry is Redis's own (millisecond precision,
 * a key is gone once its TTL elapsed), so every node sees one value and one expiry.
 */
export async function createRedisCache(
  url: string,
  options: RedisClientOptions = {},
): Promise<Cache> {
  const prefix = `${redisPrefix(options.namespace)}cache:`;
  const client = await connectRedis(url, 'atlas-cache', options);
  const { assertOpen, close } = closableClient(client, 'cache');

  async function get(key: string): Promise<string | undefined> {
    assertOpen();
    const value = await attempt('cache get failed', () => client.get(prefix + key));
    return value ?? undefined;
  }

  async function set(key: string, value: string, ttlSeconds: number): Promise<void> {
    assertOpen();
    if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
      throw new TypeError(`cache.set: ttlSeconds must be positive, got ${String(ttlSeconds)}`);
    }
    // PX rather than EX: fractional TTLs keep their meaning instead of being rounded.
    const ttlMs = Math.max(1, Math.ceil(ttlSeconds * 1000));
    await attempt('cache set failed', () => client.set(prefix + key, value, 'PX', ttlMs));
  }

  async function remove(key: string): Promise<void> {
    assertOpen();
    await attempt('cache delete failed', () => client.del(prefix + key));
  }

  return { get, set, delete: remove, close };
}
