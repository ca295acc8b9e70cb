import { usernameKey } from '../auth/accounts.ts';
import { AppError } from '../errors.ts';
import type { Events } from '../events.ts';
import { parseWith } from '../http/validate.ts';
import { isId } from '../ids.ts';
import type { Cache, Presence, Sql } from '../ports/index.ts';
import type { Rooms } from '../rooms/rooms.ts';
import {
  likePrefix,
  PROFILE_COLUMNS,
  toOwnUser,
  toPublicUser,
  toRecord,
  type ProfileRecord,
  type ProfileRow,
} from './profiles.ts';
import { createRelations } from './relations.ts';
import { ProfilePatchSchema, SearchLimitSchema, UsernamePrefixSchema } from './schemas.ts';
import type { OwnUser, PresenceCircle, PublicUser, Social } from './types.ts';

/**
 * Profiles are read far more often than they change, so they are cached; every write to a user row
 * deletes the entry. A reader that loaded the row just before a write may still put the old value
 * back, so the TTL is what bounds staleness: keep it short.
 */
const PROFILE_CACHE_SECONDS = 60;

export function createSocial(deps: {
  sql: Sql;
  cache: Cache;
  presence: Presence;
  events: Events;
  rooms: Rooms;
}): Social {
  const { sql, cache, presence, events, rooms } = deps;
  const profileKey = (userId: string) => `profile:${userId}`;
  const relations = createRelations({ sql, events });

  async function profile(userId: string): Promise<ProfileRecord> {
    const cached = await cache.get(profileKey(userId));
    if (cached !== undefined) {
      return JSON.parse(cached) as ProfileRecord;
    }
    const rows = await sql.query<ProfileRow>(
      `SELECT ${PROFILE_COLUMNS} FROM users u WHERE u.id = $1`,
      [userId],
    );
    if (!rows[0]) {
      throw new AppError('not_found', 'no such user');
    }
    const record = toRecord(rows[0]);
    await cache.set(profileKey(userId), JSON.stringify(record), PROFILE_CACHE_SECONDS);
    return record;
  }

  async function forgetProfile(userId: string): Promise<void> {
    await cache.delete(profileKey(userId));
  }

  async function records(query: string, params: readonly unknown[]): Promise<ProfileRecord[]> {
    const rows = await sql.query<ProfileRow>(query, params);
    return rows.map(toRecord);
  }

  async function onlineAmong(ids: readonly string[]): Promise<Set<string>> {
    return ids.length === 0 ? new Set() : presence.online(ids);
  }

  async function publicUsers(
    list: readonly ProfileRecord[],
    hidden: ReadonlySet<string> = new Set(),
  ): Promise<PublicUser[]> {
    const online = await onlineAmong(list.map((record) => record.id));
    return list.map((record) => toPublicUser(record, online.has(record.id), hidden.has(record.id)));
  }

  /** Ids blocked by `userId` or blocking them, and the user themself. */
  async function excludedFor(userId: string): Promise<Set<string>> {
    const rows = await sql.query<{ id: string }>(
      `SELECT blocked_id AS id FROM blocks WHERE blocker_id = $1
       UNION SELECT blocker_id AS id FROM blocks WHERE blocked_id = $1`,
      [userId],
    );
    return new Set([userId, ...rows.map((row) => row.id)]);
  }

  async function friendIds(userId: string): Promise<string[]> {
    const rows = await sql.query<{ id: string }>(
      'SELECT friend_id AS id FROM friendships WHERE user_id = $1',
      [userId],
    );
    return rows.map((row) => row.id);
  }

  /** Friends and DM partners, minus anyone blocked either way. */
  async function contactIds(userId: string): Promise<string[]> {
    const [friends, partners, excluded] = await Promise.all([
      friendIds(userId),
      rooms.dmPartners(userId),
      excludedFor(userId),
    ]);
    return [...new Set([...friends, ...partners])].filter((id) => !excluded.has(id));
  }

  /**
   * Both sides of a user's presence in one read: who is told when `userId` comes and goes
   * (friends, and DM partners `userId` wrote to) and whose presence `userId` may see (friends,
   * and DM partners who wrote to `userId`), minus anyone blocked either way. A DM shares
   * presence only once someone wrote in it, so opening one cannot be used to watch a stranger.
   */
  async function presenceCircle(userId: string): Promise<PresenceCircle> {
    const rows = await sql.query<{ id: string; friend: boolean; told: boolean; seen: boolean }>(
      `WITH excluded AS (
         SELECT blocked_id AS id FROM blocks WHERE blocker_id = $1
         UNION SELECT blocker_id AS id FROM blocks WHERE blocked_id = $1
       ), related AS (
         SELECT friend_id AS id, true AS friend, false AS told, false AS seen
           FROM friendships WHERE user_id = $1
         UNION ALL
         SELECT other.user_id, false, mine.posted, other.posted
           FROM memberships mine
           JOIN rooms r ON r.id = mine.room_id AND r.kind = 'dm'
           JOIN memberships other ON other.room_id = mine.room_id AND other.user_id <> $1
          WHERE mine.user_id = $1 AND (mine.posted OR other.posted)
       )
       SELECT id, bool_or(friend) AS friend, bool_or(told) AS told, bool_or(seen) AS seen
         FROM related
        WHERE id <> $1 AND id NOT IN (SELECT id FROM excluded)
        GROUP BY id
        ORDER BY id`,
      [userId],
    );
    return {
      audience: rows.filter((row) => row.friend || row.told).map((row) => row.id),
      visibleTo: rows.filter((row) => row.friend || row.seen).map((row) => row.id),
    };
  }

  /**
   * Ids among `ids` whose presence `viewerId` may not see: all but the viewer's friends and the
   * DM partners who wrote to the viewer, minus blocks.
   */
  async function outsideAudience(viewerId: string, ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) {
      return new Set();
    }
    const visible = new Set((await presenceCircle(viewerId)).visibleTo);
    return new Set(ids.filter((id) => id !== viewerId && !visible.has(id)));
  }

  async function me(userId: string): Promise<OwnUser> {
    const record = await profile(userId);
    const online = await onlineAmong([userId]);
    return toOwnUser(record, online.has(userId));
  }

  return {
    ...relations,
    me,

    async updateMe(userId, patch) {
      const valid = parseWith(ProfilePatchSchema, patch);
      const assignments: string[] = [];
      const params: unknown[] = [userId];
      const assign = (column: string, value: unknown) => {
        params.push(value);
        assignments.push(`${column} = $${params.length}`);
      };
      if (valid.displayName !== undefined) {
        assign('display_name', valid.displayName);
      }
      if (valid.statusText !== undefined) {
        assign('status_text', valid.statusText);
      }
      if (valid.avatarUrl !== undefined) {
        assign('avatar_url', valid.avatarUrl);
      }
      if (valid.showLastSeen !== undefined) {
        assign('show_last_seen', valid.showLastSeen);
      }
      if (assignments.length > 0) {
        const updated = await sql.query(
          `UPDATE users SET ${assignments.join(', ')} WHERE id = $1 RETURNING 1`,
          params,
        );
        if (updated.length === 0) {
          throw new AppError('not_found', 'no such user');
        }
        await forgetProfile(userId);
      }
      return me(userId);
    },

    async user(viewerId, userId) {
      if (!isId(userId)) {
        throw new AppError('not_found', 'no such user');
      }
      const record = await profile(userId);
      const [online, hidden] = await Promise.all([
        onlineAmong([userId]),
        outsideAudience(viewerId, [userId]),
      ]);
      return toPublicUser(record, online.has(userId), hidden.has(userId));
    },

    async search(viewerId, usernamePrefix, limit) {
      const prefix = parseWith(UsernamePrefixSchema, usernamePrefix);
      const count = parseWith(SearchLimitSchema, limit);
      // Users who blocked the viewer do not exist as far as the viewer's search is concerned,
      // and the viewer is not someone to find.
      const found = await records(
        `SELECT ${PROFILE_COLUMNS} FROM users u
          WHERE u.username_key LIKE $2 ESCAPE '\\'
            AND u.id <> $1
            AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = u.id AND b.blocked_id = $1)
          ORDER BY u.username_key
          LIMIT $3`,
        [viewerId, likePrefix(usernameKey(prefix)), count],
      );
      const hidden = await outsideAudience(
        viewerId,
        found.map((record) => record.id),
      );
      return publicUsers(found, hidden);
    },

    async friends(userId) {
      const found = await records(
        `SELECT ${PROFILE_COLUMNS} FROM friendships f JOIN users u ON u.id = f.friend_id
          WHERE f.user_id = $1 ORDER BY u.username_key`,
        [userId],
      );
      return publicUsers(found);
    },

    async friendRequests(userId) {
      const [incoming, outgoing] = await Promise.all([
        records(
          `SELECT ${PROFILE_COLUMNS} FROM friend_requests r JOIN users u ON u.id = r.from_id
            WHERE r.to_id = $1 ORDER BY r.created_at, u.username_key`,
          [userId],
        ),
        records(
          `SELECT ${PROFILE_COLUMNS} FROM friend_requests r JOIN users u ON u.id = r.to_id
            WHERE r.from_id = $1 ORDER BY r.created_at, u.username_key`,
          [userId],
        ),
      ]);
      const hidden = await outsideAudience(
        userId,
        [...incoming, ...outgoing].map((record) => record.id),
      );
      const [incomingUsers, outgoingUsers] = await Promise.all([
        publicUsers(incoming, hidden),
        publicUsers(outgoing, hidden),
      ]);
      return { incoming: incomingUsers, outgoing: outgoingUsers };
    },

    async blocked(userId) {
      const found = await records(
        `SELECT ${PROFILE_COLUMNS} FROM blocks b JOIN users u ON u.id = b.blocked_id
          WHERE b.blocker_id = $1 ORDER BY u.username_key`,
        [userId],
      );
      return publicUsers(found, new Set(found.map((record) => record.id)));
    },

    async contacts(userId) {
      const ids = await contactIds(userId);
      if (ids.length === 0) {
        return [];
      }
      const found = await records(
        `SELECT ${PROFILE_COLUMNS} FROM users u WHERE u.id = ANY($1::uuid[]) ORDER BY u.username_key`,
        [ids],
      );
      return publicUsers(found);
    },

    presenceCircle,
    presenceAudience: async (userId) => (await presenceCircle(userId)).audience,
    presenceVisibleTo: async (viewerId) => (await presenceCircle(viewerId)).visibleTo,

    async recordLastSeen(userId, at) {
      const rows = await sql.query<{ show_last_seen: boolean }>(
        'UPDATE users SET last_seen_at = $2 WHERE id = $1 RETURNING show_last_seen',
        [userId, at.toISOString()],
      );
      await forgetProfile(userId);
      const row = rows[0];
      if (!row) {
        throw new AppError('not_found', 'no such user');
      }
      return row.show_last_seen ? at.toISOString() : null;
    },
  };
}
