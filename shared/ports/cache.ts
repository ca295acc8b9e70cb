/** A shared key-value cache with expiry (Redis's role). Values are strings; misses are undefined. */
export interface Cache {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

export interface RateDecision {
  allowed: boolean;
  /** When not allowed: how long until the next attempt can succeed. */
  retryAfterMs: number;
}

/**
 * Fixed-window counters shared by every instance (Redis's role): at most `limit` hits per key
 * per window.
 */
export interface RateLimiter {
  hit(key: string, limit: number, windowMs: number): Promise<RateDecision>;
  /** Forgets a key, e.g. the failed-login counter after a successful login. */
  reset(key: string): Promise<void>;
  close(): Promise<void>;
}
