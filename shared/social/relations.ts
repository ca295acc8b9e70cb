import { AppError } from '../errors.ts';
import type { Events } from '../events.ts';
import { isId } from '../ids.ts';
import type { Sql, SqlQuery } from '../ports/index.ts';
import type { FriendRequestOutcome, Social } from './types.ts';

/**
 * Advisory-lock namespace (first key of the two-int form) for the per-pair lock taken by every
 * friendship and block change between two users. Without it, A asking B while B asks A could
 * leave two pending requests instead of a friendship, and a block could race an accept.
 */
const PAIR_LOCK_NAMESPACE = 7_310_043;

interface Relation {
  blocked: boolean;
  friends: boolean;
  theyAsked: boolean;
}

function pairKey(a: string, b: string): string {
  return a < b ? `${a}:${b}` : `${b}:${a}`;
}

function assertTargetId(userId: string, targetId: string, action: string): void {
  if (!isId(targetId)) {
    throw new AppError('validation_failed', 'userId: must be an id');
  }
  if (targetId === userId) {
    throw new AppError('validation_failed', `userId: you cannot ${action} yourself`);
  }
}

/** The Social methods that change who is friends with, asked, or blocked whom. */
export type Relations = Pick<
  Social,
  | 'requestFriend'
  | 'acceptFriend'
  | 'declineFriend'
  | 'cancelFriendRequest'
  | 'removeFriend'
  | 'block'
  | 'unblock'
>;

/** Every change publishes `contacts_changed` to both users, so their clients refetch. */
export function createRelations(deps: { sql: Sql; events: Events }): Relations {
  const { sql, events } = deps;

  async function assertUserExists(userId: string): Promise<void> {
    const rows = await sql.query('SELECT 1 FROM users WHERE id = $1', [userId]);
    if (rows.length === 0) {
      throw new AppError('not_found', 'no such user');
    }
  }

  /** Runs `work` in a transaction holding the lock on the pair (a, b). */
  async function withPair<T>(a: string, b: string, work: (tx: SqlQuery) => Promise<T>): Promise<T> {
    return sql.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [
        PAIR_LOCK_NAMESPACE,
        pairKey(a, b),
      ]);
      return work(tx);
    });
  }

  async function relation(tx: SqlQuery, userId: string, otherId: string): Promise<Relation> {
    const rows = await tx.query<{ blocked: boolean; friends: boolean; they_asked: boolean }>(
      `SELECT
         EXISTS (SELECT 1 FROM blocks WHERE (blocker_id = $1 AND blocked_id = $2)
                                         OR (blocker_id = $2 AND blocked_id = $1)) AS blocked,
         EXISTS (SELECT 1 FROM friendships WHERE user_id = $1 AND friend_id = $2) AS friends,
         EXISTS (SELECT 1 FROM friend_requests WHERE from_id = $2 AND to_id = $1) AS they_asked`,
      [userId, otherId],
    );
    const row = rows[0];
    return {
      blocked: row?.blocked ?? false,
      friends: row?.friends ?? false,
      theyAsked: row?.they_asked ?? false,
    };
  }

  /** Friendships are stored in both directions; any request between the two is settled by it. */
  async function befriend(tx: SqlQuery, a: string, b: string): Promise<void> {
    await tx.query(
      `DELETE FROM friend_requests WHERE (from_id = $1 AND to_id = $2) OR (from_id = $2 AND to_id = $1)`,
      [a, b],
    );
    await tx.query(
      `INSERT INTO friendships (user_id, friend_id) VALUES ($1, $2), ($2, $1) ON CONFLICT DO NOTHING`,
      [a, b],
    );
  }

  async function contactsChanged(a: string, b: string): Promise<void> {
    await events.toUsers([a, b], { t: 'contacts_changed' });
  }

  return {
    async requestFriend(userId, targetId): Promise<FriendRequestOutcome> {
      assertTargetId(userId, targetId, 'befriend');
      await assertUserExists(targetId);
      const result = await withPair(userId, targetId, async (tx) => {
        const current = await relation(tx, userId, targetId);
        if (current.blocked) {
          throw new AppError('blocked', 'you cannot befriend this user');
        }
        if (current.friends) {
          throw new AppError('already_friends', 'you are already friends');
        }
        if (current.theyAsked) {
          await befriend(tx, userId, targetId);
          return { outcome: 'friends' as const, changed: true };
        }
        const inserted = await tx.query(
          `INSERT INTO friend_requests (from_id, to_id) VALUES ($1, $2)
           ON CONFLICT DO NOTHING RETURNING 1`,
          [userId, targetId],
        );
        return { outcome: 'pending' as const, changed: inserted.length > 0 };
      });
      if (result.changed) {
        await contactsChanged(userId, targetId);
      }
      return result.outcome;
    },

    async acceptFriend(userId, requesterId) {
      if (!isId(requesterId)) {
        throw new AppError('not_found', 'no such friend request');
      }
      await withPair(userId, requesterId, async (tx) => {
        const removed = await tx.query(
          'DELETE FROM friend_requests WHERE from_id = $1 AND to_id = $2 RETURNING 1',
          [requesterId, userId],
        );
        if (removed.length === 0) {
          throw new AppError('not_found', 'no such friend request');
        }
        await befriend(tx, userId, requesterId);
      });
      await contactsChanged(userId, requesterId);
    },

    async declineFriend(userId, requesterId) {
      if (!isId(requesterId)) {
        throw new AppError('not_found', 'no such friend request');
      }
      const removed = await sql.query(
        'DELETE FROM friend_requests WHERE from_id = $1 AND to_id = $2 RETURNING 1',
        [requesterId, userId],
      );
      if (removed.length === 0) {
        throw new AppError('not_found', 'no such friend request');
      }
      await contactsChanged(userId, requesterId);
    },

    async cancelFriendRequest(userId, targetId) {
      if (!isId(targetId)) {
        throw new AppError('not_found', 'no such friend request');
      }
      const removed = await sql.query(
        'DELETE FROM friend_requests WHERE from_id = $1 AND to_id = $2 RETURNING 1',
        [userId, targetId],
      );
      if (removed.length === 0) {
        throw new AppError('not_found', 'no such friend request');
      }
      await contactsChanged(userId, targetId);
    },

    async removeFriend(userId, friendId) {
      if (!isId(friendId)) {
        throw new AppError('not_found', 'no such friend');
      }
      const removed = await sql.query(
        `DELETE FROM friendships WHERE (user_id = $1 AND friend_id = $2)
                                    OR (user_id = $2 AND friend_id = $1) RETURNING 1`,
        [userId, friendId],
      );
      if (removed.length === 0) {
        throw new AppError('not_found', 'no such friend');
      }
      await contactsChanged(userId, friendId);
    },

    async block(userId, targetId) {
      assertTargetId(userId, targetId, 'block');
      await assertUserExists(targetId);
      const changed = await withPair(userId, targetId, async (tx) => {
        const inserted = await tx.query(
          'INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1',
          [userId, targetId],
        );
        const unfriended = await tx.query(
          `DELETE FROM friendships WHERE (user_id = $1 AND friend_id = $2)
                                      OR (user_id = $2 AND friend_id = $1) RETURNING 1`,
          [userId, targetId],
        );
        const withdrawn = await tx.query(
          `DELETE FROM friend_requests WHERE (from_id = $1 AND to_id = $2)
                                          OR (from_id = $2 AND to_id = $1) RETURNING 1`,
          [userId, targetId],
        );
        return inserted.length + unfriended.length + withdrawn.length > 0;
      });
      if (changed) {
        await contactsChanged(userId, targetId);
      }
    },

    async unblock(userId, targetId) {
      assertTargetId(userId, targetId, 'unblock');
      const removed = await sql.query(
        'DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2 RETURNING 1',
        [userId, targetId],
      );
      if (removed.length === 0) {
        // Unblocking someone not blocked is a no-op, but an unknown user is still an error.
        await assertUserExists(targetId);
        return;
      }
      await contactsChanged(userId, targetId);
    },
  };
}
