import * as v from 'valibot';
import { AppError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { Cache, RateLimiter } from '../ports/cache.ts';
import type { Sql } from '../ports/sql.ts';
import { UsernameSchema } from '../schemas.ts';
import type { PasswordHasher } from './passwords.ts';

/** Failed logins allowed per (account, client address) and per account from anywhere. */
const FAILURES_PER_CLIENT = 5;
const FAILURES_PER_ACCOUNT = 50;
const FAILURE_WINDOW_MS = 5 * 60_000;

export interface Accounts {
  register(input: {
    username: string;
    password: string;
    displayName?: string | undefined;
  }): Promise<string>;
  /** Resolves the user id, or fails with `invalid_credentials` / `login_throttled`. */
  login(input: { username: string; password: string; clientAddress: string }): Promise<string>;
}

export function usernameKey(username: string): string {
  return username.toLowerCase();
}

/**
 * Failed logins are throttled per account *and client address*, so an attacker elsewhere cannot
 * lock a user out; a much larger per-account budget stops distributed guessing, and expires
 * after a few minutes so it cannot lock anyone out for long either.
 */
export function createAccounts(
  sql: Sql,
  hasher: PasswordHasher,
  limiter: RateLimiter,
  cache: Cache,
): Accounts {
  return {
    async register({ username, password, displayName }) {
      const key = usernameKey(username);
      const taken = await sql.query('SELECT 1 FROM users WHERE username_key = $1', [key]);
      if (taken.length > 0) {
        throw new AppError('username_taken', 'that username is taken');
      }
      const passwordHash = await hasher.hash(password);
      const id = newId();
      const inserted = await sql.query(
        `INSERT INTO users (id, username, username_key, password_hash, display_name)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username_key) DO NOTHING RETURNING id`,
        [id, username, key, passwordHash, displayName ?? username],
      );
      if (inserted.length === 0) {
        throw new AppError('username_taken', 'that username is taken');
      }
      return id;
    },

    async login({ username, password, clientAddress }) {
      const key = usernameKey(username);
      const budgets = [
        { key: `login-fail:${key}:${clientAddress}`, failures: FAILURES_PER_CLIENT },
        { key: `login-fail:${key}`, failures: FAILURES_PER_ACCOUNT },
      ];
      for (const budget of budgets) {
        const lockedUntil = Number((await cache.get(`${budget.key}:locked`)) ?? '0');
        if (lockedUntil > Date.now()) {
          throw new AppError(
            'login_throttled',
            'too many failed logins, retry later',
            (lockedUntil - Date.now()) / 1000,
          );
        }
      }
      // Only a name registration could have accepted reaches the database: anything else is an
      // unknown user (and a U+0000, which PostgreSQL text cannot hold, would fail the query).
      const rows = v.is(UsernameSchema, username)
        ? await sql.query<{ id: string; password_hash: string }>(
            'SELECT id, password_hash FROM users WHERE username_key = $1',
            [key],
          )
        : [];
      const user = rows[0];
      let ok = false;
      if (user) {
        ok = await hasher.verify(user.password_hash, password);
      } else {
        await hasher.verifyNothing(password);
      }
      if (!user || !ok) {
        for (const budget of budgets) {
          // The hit that finds the budget spent starts a lock-out for the rest of the window.
          const decision = await limiter.hit(budget.key, budget.failures - 1, FAILURE_WINDOW_MS);
          if (!decision.allowed) {
            const seconds = Math.ceil(decision.retryAfterMs / 1000);
            await cache.set(
              `${budget.key}:locked`,
              String(Date.now() + decision.retryAfterMs),
              seconds,
            );
          }
        }
        throw new AppError('invalid_credentials', 'wrong username or password');
      }
      await limiter.reset(budgets[0]!.key);
      return user.id;
    },
  };
}
