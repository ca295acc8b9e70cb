import type { Cache } from '../ports/cache.ts';
import { unavailable } from './unavailable.ts';

export interface MemoryCacheOptions {
  /** Clock in epoch milliseconds; tests pass a frozen one. Default Date.now. */
  now?: () => number;
  /** Most keys held; past it the oldest written key is evicted. Default 10_000. */
  maxEntries?: number;
}

interface Entry {
  value: string;
  expiresAtMs: number;
}

/**
 * A process-local cache. A key is readable strictly before its expiry. Expired keys are dropped
 * when read; the size cap bounds whatever is never read again. Map order is write order, and a
 * set re-inserts its key, so the first key is always the oldest written.
 */
export function createMemoryCache(options: MemoryCacheOptions = {}): Cache {
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? 10_000;
  if (!Number.isSafeInteger(maxEntries) || maxEntries <= 0) {
    throw new TypeError('createMemoryCache: maxEntries must be a positive integer');
  }
  const entries = new Map<string, Entry>();
  let closed = false;

  async function get(key: string): Promise<string | undefined> {
    assertOpen();
    const entry = entries.get(key);
    if (entry && entry.expiresAtMs <= now()) {
      entries.delete(key);
      return undefined;
    }
    return entry?.value;
  }

  async function set(key: string, value: string, ttlSeconds: number): Promise<void> {
    assertOpen();
    if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
      throw new TypeError(`cache.set: ttlSeconds must be positive, got ${String(ttlSeconds)}`);
    }
    entries.delete(key);
    entries.set(key, { value, expiresAtMs: now() + ttlSeconds * 1000 });
    for (const oldest of entries.keys()) {
      if (entries.size <= maxEntries) {
        break;
      }
      entries.delete(oldest);
    }
  }

  async function remove(key: string): Promise<void> {
    assertOpen();
    entries.delete(key);
  }

  async function close(): Promise<void> {
    closed = true;
    entries.clear();
  }

  function assertOpen(): void {
    if (closed) {
      throw unavailable('cache is closed');
    }
  }

  return { get, set, delete: remove, close };
}
