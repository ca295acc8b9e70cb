import type { ExpiryStamp } from './types.ts';

/**
 * Epoch milliseconds of an expiry stamp from the server: ISO-8601 text, or a number in seconds
 * (JWT style) or milliseconds. Undefined when it cannot be read.
 */
export function expiryToMs(stamp: ExpiryStamp | undefined | null): number | undefined {
  if (typeof stamp === 'number' && Number.isFinite(stamp) && stamp > 0) {
    // 1e11 seconds is the year 5138, 1e11 milliseconds is 1973: no real stamp is ambiguous.
    return stamp < 1e11 ? stamp * 1000 : stamp;
  }
  if (typeof stamp === 'string') {
    const ms = Date.parse(stamp);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

/**
 * The `exp` of a JWT access token in epoch milliseconds, read without verifying the signature
 * (only to decide when to refresh). Undefined for anything that is not a readable JWT.
 */
export function tokenExpiryMs(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) {
    return undefined;
  }
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
    const claims = JSON.parse(atob(padded)) as { exp?: unknown };
    return typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** Longest delay setTimeout accepts; larger values fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * When to renew a credential that expires at `expiresAtMs`: a minute early, or halfway through
 * the remaining life when that is shorter. Never negative, never beyond a timer's range.
 */
export function renewDelayMs(expiresAtMs: number, nowMs: number): number {
  const remaining = expiresAtMs - nowMs;
  const lead = Math.min(60_000, remaining / 2);
  return Math.min(MAX_TIMER_MS, Math.max(0, Math.floor(remaining - lead)));
}
