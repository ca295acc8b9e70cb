export interface BackoffOptions {
  /** Ceiling of the first retry's delay. */
  initialMs?: number;
  /** No delay ever exceeds this. */
  maxMs?: number;
  /** Uniform in [0, 1); injected by tests. */
  random?: () => number;
}

/**
 * The first retry comes after 0.5-1 s, so a restarted server is found again almost at once; the
 * ceiling stays low (5-12 s) because a chat that waits longer than that looks broken.
 */
export const DEFAULT_BACKOFF = { initialMs: 1_000, maxMs: 12_000 } as const;

/**
 * Delay before reconnect attempt `attempt` (0 for the first retry): the ceiling doubles per
 * attempt up to `maxMs`, and the delay is drawn uniformly from the upper half of it ("equal
 * jitter"). The floor keeps a fleet of clients that lost the same server from retrying at
 * once, while the random half spreads them out.
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions = {}): number {
  const initialMs = options.initialMs ?? DEFAULT_BACKOFF.initialMs;
  const maxMs = options.maxMs ?? DEFAULT_BACKOFF.maxMs;
  const random = options.random ?? Math.random;
  if (!(initialMs > 0) || !(maxMs >= initialMs)) {
    throw new TypeError('backoff needs 0 < initialMs <= maxMs');
  }
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), 30);
  const ceiling = Math.min(maxMs, initialMs * 2 ** exponent);
  // Clamped so that a misbehaving random source cannot leave the bounds.
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(ceiling / 2 + (ceiling / 2) * r);
}
