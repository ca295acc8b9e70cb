import { base64url, sha256Base64url } from '../encoding.ts';
import { AppError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { Cache } from '../ports/cache.ts';
import type { Sql } from '../ports/sql.ts';

/**
 * Logins as refresh-token families. Each refresh rotates the token; presenting a token that was
 * already used means it leaked (or raced), so the whole family is revoked and every access token
 * of that login stops working.
 */
export interface Sessions {
  /** Starts a login; returns its id and its first refresh token. */
  start(userId: string): Promise<{ sessionId: string; refreshToken: string }>;
  /** Exchanges a refresh token for its successor. */
  rotate(
    refreshToken: string,
  ): Promise<{ userId: string; sessionId: string; refreshToken: string }>;
  /** Revokes the login the token belongs to (used or not). Returns who it was, if known. */
  revoke(refreshToken: string): Promise<{ userId: string; sessionId: string } | undefined>;
  /** Whether access tokens of this login are still honoured (cached). */
  isActive(sessionId: string): Promise<boolean>;
}

const REFRESH_TOKEN_BYTES = 32;

function randomToken(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(REFRESH_TOKEN_BYTES)));
}

const sha256 = sha256Base64url;

interface TokenRow {
  family_id: string;
  user_id: string;
  used_at: string | null;
  expired: boolean;
  revoked_at: string | null;
}

export interface SessionsOptions {
  sql: Sql;
  cache: Cache;
  refreshTtlSeconds: number;
  /** How long "this login is active/revoked" answers are cached. */
  stateCacheSeconds: number;
  /** Called after a login was revoked, to close its sockets everywhere. */
  onRevoked: (userId: string, sessionId: string) => Promise<void>;
}

export function createSessions(options: SessionsOptions): Sessions {
  const { sql, cache } = options;
  const stateKey = (sessionId: string) => `session:${sessionId}`;

  async function issue(familyId: string): Promise<string> {
    const token = randomToken();
    await sql.query(
      `INSERT INTO refresh_tokens (token_hash, family_id, expires_at)
       VALUES ($1, $2, now() + make_interval(secs => $3))`,
      [await sha256(token), familyId, options.refreshTtlSeconds],
    );
    return token;
  }

  async function find(refreshToken: string): Promise<TokenRow | undefined> {
    if (refreshToken.length === 0 || refreshToken.length > 256) {
      return undefined;
    }
    const rows = await sql.query<TokenRow>(
      `SELECT t.family_id, f.user_id, t.used_at, t.expires_at < now() AS expired, f.revoked_at
         FROM refresh_tokens t JOIN token_families f ON f.id = t.family_id
        WHERE t.token_hash = $1`,
      [await sha256(refreshToken)],
    );
    return rows[0];
  }

  async function revokeFamily(userId: string, familyId: string): Promise<void> {
    await sql.query(
      'UPDATE token_families SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL',
      [familyId],
    );
    await cache.set(stateKey(familyId), 'revoked', options.stateCacheSeconds);
    await options.onRevoked(userId, familyId);
  }

  return {
    async start(userId) {
      const sessionId = newId();
      await sql.query('INSERT INTO token_families (id, user_id) VALUES ($1, $2)', [
        sessionId,
        userId,
      ]);
      return { sessionId, refreshToken: await issue(sessionId) };
    },

    async rotate(refreshToken) {
      const row = await find(refreshToken);
      if (!row || row.expired) {
        throw new AppError('unauthorized', 'unknown or expired refresh token');
      }
      if (row.revoked_at !== null) {
        throw new AppError('token_revoked', 'this login was revoked');
      }
      // Marking used is the atomic step: of two concurrent refreshes with one token, one wins.
      const claimed = await sql.query(
        'UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL RETURNING 1',
        [await sha256(refreshToken)],
      );
      if (claimed.length === 0) {
        await revokeFamily(row.user_id, row.family_id);
        throw new AppError('token_revoked', 'refresh token reused; the login was revoked');
      }
      return {
        userId: row.user_id,
        sessionId: row.family_id,
        refreshToken: await issue(row.family_id),
      };
    },

    async revoke(refreshToken) {
      const row = await find(refreshToken);
      if (!row) {
        return undefined;
      }
      await revokeFamily(row.user_id, row.family_id);
      return { userId: row.user_id, sessionId: row.family_id };
    },

    async isActive(sessionId) {
      const cached = await cache.get(stateKey(sessionId));
      if (cached !== undefined) {
        return cached === 'active';
      }
      const rows = await sql.query<{ revoked: boolean }>(
        'SELECT revoked_at IS NOT NULL AS revoked FROM token_families WHERE id = $1',
        [sessionId],
      );
      const active = rows[0] !== undefined && !rows[0].revoked;
      await cache.set(
        stateKey(sessionId),
        active ? 'active' : 'revoked',
        options.stateCacheSeconds,
      );
      return active;
    },
  };
}
