export interface BackoffOptions {
  /** Delay before the first retry, before jitter. */
  baseMs: number;
  /** No delay grows beyond this. */
  maxMs: number;
}

/**
 * Delay before retry number `attempt` (1-based): doubles from `baseMs` up to `maxMs`. Half of it
 * is random so that many consumers failing on the same outage do not retry in lockstep.
 */
export function backoffDelayMs(
  attempt: number,
  { baseMs, maxMs }: BackoffOptions,
  random: () => number = Math.random,
): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return cap / 2 + random() * (cap / 2);
}
