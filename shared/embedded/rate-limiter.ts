import type { RateDecision, RateLimiter } from '../ports/cache.ts';
import { unavailable } from './unavailable.ts';

export interface MemoryRateLimiterOptions {
  /** Clock in epoch milliseconds; tests pass a frozen one. Default Date.now. */
  now?: () => number;
  /** How often ended windows are dropped from memory. Default 60_000. */
  sweepIntervalMs?: number;
}

interface Window {
  hits: number;
  endsAtMs: number;
}

/**
 * Fixed-window counters in process memory, the way INCR + PEXPIRE does it in Redis: a key's
 * window opens at its first hit and lasts `windowMs`; the window's length and limit are those of
 * the call at hand, the end is fixed when the window opens. Refused hits count too.
 */
export function createMemoryRateLimiter(options: MemoryRateLimiterOptions = {}): RateLimiter {
  const now = options.now ?? Date.now;
  const windows = new Map<string, Window>();
  let closed = false;
  const sweeper = setInterval(sweep, options.sweepIntervalMs ?? 60_000);
  sweeper.unref();

  async function hit(key: string, limit: number, windowMs: number): Promise<RateDecision> {
    assertOpen();
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new TypeError(`limiter.hit: limit must be a non-negative integer, got ${limit}`);
    }
    if (!Number.isFinite(windowMs) || windowMs <= 0) {
      throw new TypeError(`limiter.hit: windowMs must be positive, got ${windowMs}`);
    }
    const at = now();
    let window = windows.get(key);
    if (!window || window.endsAtMs <= at) {
      window = { hits: 0, endsAtMs: at + windowMs };
      windows.set(key, window);
    }
    window.hits += 1;
    const allowed = window.hits <= limit;
    return { allowed, retryAfterMs: allowed ? 0 : window.endsAtMs - at };
  }

  async function reset(key: string): Promise<void> {
    assertOpen();
    windows.delete(key);
  }

  async function close(): Promise<void> {
    closed = true;
    clearInterval(sweeper);
    windows.clear();
  }

  function sweep(): void {
    const at = now();
    for (const [key, window] of windows) {
      if (window.endsAtMs <= at) {
        windows.delete(key);
      }
    }
  }

  function assertOpen(): void {
    if (closed) {
      throw unavailable('rate limiter is closed');
    }
  }

  return { hit, reset, close };
}
