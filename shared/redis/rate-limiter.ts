import type { Redis } from 'ioredis';
import type { RateDecision, RateLimiter } from '../ports/cache.ts';
import {
  attempt,
  closableClient,
  connectRedis,
  redisPrefix,
  type RedisClientOptions,
} from './connection.ts';

/**
 * One hit: count it, start the window if this hit opened it (NX keeps a running window's end
 * fixed, and needs Redis 7), and say how long the window still runs. One script, so the count
 * and its expiry can never be separated by a crash between two commands.
 */
const HIT = `
local hits = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1], 'NX')
return { hits, redis.call('PTTL', KEYS[1]) }`;

interface LimiterScripts {
  atlasRateHit(key: string, windowMs: number): Promise<[hits: number, ttlMs: number]>;
}

/**
 * Fixed-window counters in Redis under `atlas:rate:`, shared by every instance: a key's window
 * opens at its first hit and lasts `windowMs`; refused hits count too (as in the memory one).
 */
export async function createRedisRateLimiter(
  url: string,
  options: RedisClientOptions = {},
): Promise<RateLimiter> {
  const prefix = `${redisPrefix(options.namespace)}rate:`;
  const client = await connectRedis(url, 'atlas-limiter', options);
  client.defineCommand('atlasRateHit', { numberOfKeys: 1, lua: HIT });
  const scripts = client as Redis & LimiterScripts;
  const { assertOpen, close } = closableClient(client, 'rate limiter');

  async function hit(key: string, limit: number, windowMs: number): Promise<RateDecision> {
    assertOpen();
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new TypeError(`limiter.hit: limit must be a non-negative integer, got ${limit}`);
    }
    if (!Number.isFinite(windowMs) || windowMs <= 0) {
      throw new TypeError(`limiter.hit: windowMs must be positive, got ${windowMs}`);
    }
    const [hits, ttlMs] = await attempt('rate limit check failed', () =>
      scripts.atlasRateHit(prefix + key, Math.ceil(windowMs)),
    );
    const allowed = hits <= limit;
    // PTTL can read 0 in the window's last millisecond; a refusal always asks for some wait.
    return { allowed, retryAfterMs: allowed ? 0 : Math.max(1, ttlMs) };
  }

  async function reset(key: string): Promise<void> {
    assertOpen();
    await attempt('rate limit reset failed', () => client.del(prefix + key));
  }

  return { hit, reset, close };
}
