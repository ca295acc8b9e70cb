import type { Cache, RateLimiter } from '../ports/index.ts';

/**
 * The cache and the rate limiter help ATLAS run well; neither may stop it running. When their
 * server is down, reads miss (callers go to the source of truth), writes are dropped, and rate
 * limits let requests through (the per-connection budgets of the realtime node still hold).
 * Each failure goes to `report`, which should count it.
 */
export function failSoftCache(
  cache: Cache,
  report: (error: unknown, operation: string) => void,
): Cache {
  return {
    get: (key) =>
      cache.get(key).catch((error: unknown) => {
        report(error, 'cache.get');
        return undefined;
      }),
    set: (key, value, ttlSeconds) =>
      cache.set(key, value, ttlSeconds).catch((error: unknown) => report(error, 'cache.set')),
    delete: (key) => cache.delete(key).catch((error: unknown) => report(error, 'cache.delete')),
    close: () => cache.close(),
  };
}

export function failOpenLimiter(
  limiter: RateLimiter,
  report: (error: unknown, operation: string) => void,
): RateLimiter {
  return {
    hit: (key, limit, windowMs) =>
      limiter.hit(key, limit, windowMs).catch((error: unknown) => {
        report(error, 'limiter.hit');
        return { allowed: true, retryAfterMs: 0 };
      }),
    reset: (key) => limiter.reset(key).catch((error: unknown) => report(error, 'limiter.reset')),
    close: () => limiter.close(),
  };
}
