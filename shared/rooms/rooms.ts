import { AppError } from '../errors.ts';
import type { Events } from '../events.ts';
import { newId } from '../ids.ts';
import { createRoomGuards } from './guards.ts';
import { createReadMarkers, type SentMark } from './read-markers.ts';
import { createRoomViews } from './views.ts';
import type { Cache, ChatMessage, MessageStore, Sql } from '../ports/index.ts';

export type { SentMark } from './read-markers.ts';

export type RoomKind = 'dm' | 'group';

/** A room as one member sees it. */
export interface RoomView {
  id: string;
  kind: RoomKind;
  name: string;
  ownerId: string | null;
  memberIds: string[];
  /** The other member of a DM. */
  peerId: string | null;
  lastSeq: number;
  readSeq: number;
  unread: number;
  lastMessage: ChatMessage | null;
  createdAt: string;
}

export interface Rooms {
  /** Member ids of a room (cached); empty when the room does not exist. */
  memberIds(roomId: string): Promise<string[]>;
  /** Fails with `not_member` (also for rooms that do not exist, which it does not reveal). */
  assertMember(roomId: string, userId: string): Promise<void>;
  /** Like assertMember, and refuses DMs where either side blocked the other. */
  assertCanWrite(roomId: string, userId: string): Promise<void>;
  roomIdsOf(userId: string): Promise<string[]>;
  list(userId: string): Promise<RoomView[]>;
  view(roomId: string, userId: string): Promise<RoomView>;
  createGroup(ownerId: string, name: string, memberIds: readonly string[]): Promise<RoomView>;
  openDm(userId: string, peerId: string): Promise<RoomView>;
  rename(roomId: string, userId: string, name: string): Promise<RoomView>;
  addMembers(roomId: string, userId: string, userIds: readonly string[]): Promise<RoomView>;
  removeMember(roomId: string, actorId: string, userId: string): Promise<void>;
  /**
   * Moves the user's read marker forward (never back, never past the last message) and tells
   * the room, unless `announce` is false (a sender passing their own message: every connection
   * already sees the message itself, so the event would double the room's traffic).
   */
  markRead(roomId: string, userId: string, seq: number, announce?: boolean): Promise<number>;
  /** The user wrote message `seq`: they have read up to it and have now posted in the room. */
  markSent(roomId: string, userId: string, seq: number): Promise<void>;
  /** markSent for many senders and rooms in one statement. */
  markSentMany(marks: readonly SentMark[]): Promise<void>;
  /** Every member's read marker (members only: `not_member` otherwise). */
  readMarkers(roomId: string, viewerId: string): Promise<Map<string, number>>;
  /** Ids of users that share a DM with `userId`. */
  dmPartners(userId: string): Promise<string[]>;
}

export interface RoomRow {
  id: string;
  kind: RoomKind;
  name: string;
  owner_id: string | null;
  created_at: Date | string;
}

const MEMBERS_CACHE_SECONDS = 300;
const MEMBERS_RECHECK_MS = 1_000;
/** Room kinds kept in memory (see kindOf). */
const KIND_CACHE_ENTRIES = 100_000;
/** Members of a group, its creator included. */
export const MAX_GROUP_MEMBERS = 1000;

export function dmKey(a: string, b: string): string {
  return a < b ? `${a}:${b}` : `${b}:${a}`;
}

export function createRooms(deps: {
  sql: Sql;
  cache: Cache;
  store: MessageStore;
  events: Events;
}): Rooms {
  const { sql, cache, store, events } = deps;
  const membersKey = (roomId: string) => `members:${roomId}`;

  async function memberIds(roomId: string): Promise<string[]> {
    const cached = await cache.get(membersKey(roomId));
    if (cached !== undefined) {
      return JSON.parse(cached) as string[];
    }
    const rows = await sql.query<{ user_id: string }>(
      'SELECT user_id FROM memberships WHERE room_id = $1 ORDER BY joined_at, user_id',
      [roomId],
    );
    const ids = rows.map((row) => row.user_id);
    await cache.set(membersKey(roomId), JSON.stringify(ids), MEMBERS_CACHE_SECONDS);
    return ids;
  }

  /**
   * Drops the cached member list after a membership change committed. A reader that loaded the
   * old list just before the commit could store it again after this delete, so the key is
   * deleted once more a moment later (the reader's write has happened by then).
   */
  async function forgetMembers(roomId: string): Promise<void> {
    await cache.delete(membersKey(roomId));
    const again = setTimeout(() => {
      cache.delete(membersKey(roomId)).catch(() => undefined);
    }, MEMBERS_RECHECK_MS);
    again.unref?.();
  }

  async function assertMember(roomId: string, userId: string): Promise<void> {
    const ids = await memberIds(roomId);
    if (!ids.includes(userId)) {
      throw new AppError('not_member', 'you are not a member of that room');
    }
  }

  const readMarkers = createReadMarkers({ sql, store, events, assertMember });

  /**
   * Kinds of rooms seen, for the check on every send: a room never changes kind, so this saves
   * a relational read per message. Bounded by starting over when full.
   */
  const kinds = new Map<string, RoomKind>();

  async function kindOf(roomId: string): Promise<RoomKind> {
    const known = kinds.get(roomId);
    if (known !== undefined) {
      return known;
    }
    const { kind } = await roomRow(roomId);
    if (kinds.size >= KIND_CACHE_ENTRIES) {
      kinds.clear();
    }
    kinds.set(roomId, kind);
    return kind;
  }

  async function roomRow(roomId: string): Promise<RoomRow> {
    const rows = await sql.query<RoomRow>(
      'SELECT id, kind, name, owner_id, created_at FROM rooms WHERE id = $1',
      [roomId],
    );
    if (!rows[0]) {
      throw new AppError('not_found', 'no such room');
    }
    return rows[0];
  }

  const { blockedEitherWay, assertNoBlocks, existingUsers } = createRoomGuards(sql);
  const views = createRoomViews({ sql, store, memberIds });

  async function view(roomId: string, userId: string): Promise<RoomView> {
    await assertMember(roomId, userId);
    const [result] = await views(userId, [await roomRow(roomId)]);
    if (!result) {
      throw new AppError('not_found', 'no such room');
    }
    return result;
  }

  async function announce(roomId: string, userIds: readonly string[]): Promise<void> {
    await events.toUsers(userIds, { t: 'room', roomId });
  }

  return {
    memberIds,
    assertMember,

    async assertCanWrite(roomId, userId) {
      const ids = await memberIds(roomId);
      if (!ids.includes(userId)) {
        throw new AppError('not_member', 'you are not a member of that room');
      }
      if ((await kindOf(roomId)) === 'dm') {
        const peer = ids.find((id) => id !== userId);
        if (peer && (await blockedEitherWay(userId, peer))) {
          throw new AppError('blocked', 'messages between you and this user are blocked');
        }
      }
    },

    async roomIdsOf(userId) {
      const rows = await sql.query<{ room_id: string }>(
        'SELECT room_id FROM memberships WHERE user_id = $1',
        [userId],
      );
      return rows.map((row) => row.room_id);
    },

    async list(userId) {
      const rows = await sql.query<RoomRow>(
        `SELECT r.id, r.kind, r.name, r.owner_id, r.created_at
           FROM rooms r JOIN memberships m ON m.room_id = r.id
          WHERE m.user_id = $1`,
        [userId],
      );
      const result = await views(userId, rows);
      const activity = (room: RoomView) => room.lastMessage?.createdAt ?? room.createdAt;
      return result.sort((a, b) => activity(b).localeCompare(activity(a)));
    },

    view,

    async createGroup(ownerId, name, requestedIds) {
      const ids = [...new Set([ownerId, ...requestedIds])];
      if (ids.length > MAX_GROUP_MEMBERS) {
        throw new AppError('validation_failed', `a group has at most ${MAX_GROUP_MEMBERS} members`);
      }
      const found = await existingUsers(ids);
      const missing = ids.filter((id) => !found.has(id));
      if (missing.length > 0) {
        throw new AppError('not_found', 'some members do not exist');
      }
      await assertNoBlocks(ids, ids);
      const roomId = newId();
      await sql.transaction(async (tx) => {
        await tx.query(
          "INSERT INTO rooms (id, kind, name, owner_id) VALUES ($1, 'group', $2, $3)",
          [roomId, name, ownerId],
        );
        await tx.query('INSERT INTO memberships (room_id, user_id) SELECT $1, unnest($2::uuid[])', [
          roomId,
          ids,
        ]);
      });
      await announce(roomId, ids);
      return view(roomId, ownerId);
    },

    async openDm(userId, peerId) {
      if (peerId === userId) {
        throw new AppError('validation_failed', 'userId: cannot open a DM with yourself');
      }
      const found = await existingUsers([peerId]);
      if (!found.has(peerId)) {
        throw new AppError('not_found', 'no such user');
      }
      if (await blockedEitherWay(userId, peerId)) {
        throw new AppError('blocked', 'messages between you and this user are blocked');
      }
      const key = dmKey(userId, peerId);
      const roomId = newId();
      const created = await sql.transaction(async (tx) => {
        const inserted = await tx.query(
          `INSERT INTO rooms (id, kind, dm_key) VALUES ($1, 'dm', $2)
           ON CONFLICT (dm_key) DO NOTHING RETURNING id`,
          [roomId, key],
        );
        if (inserted.length === 0) {
          return false;
        }
        await tx.query('INSERT INTO memberships (room_id, user_id) VALUES ($1, $2), ($1, $3)', [
          roomId,
          userId,
          peerId,
        ]);
        return true;
      });
      if (created) {
        await announce(roomId, [userId, peerId]);
        return view(roomId, userId);
      }
      const rows = await sql.query<{ id: string }>('SELECT id FROM rooms WHERE dm_key = $1', [key]);
      const existing = rows[0];
      if (!existing) {
        throw new AppError('conflict', 'the DM is being created, retry');
      }
      return view(existing.id, userId);
    },

    async rename(roomId, userId, name) {
      await assertMember(roomId, userId);
      const row = await roomRow(roomId);
      if (row.kind !== 'group') {
        throw new AppError('forbidden', 'only groups can be renamed');
      }
      await sql.query('UPDATE rooms SET name = $2 WHERE id = $1', [roomId, name]);
      await announce(roomId, await memberIds(roomId));
      return view(roomId, userId);
    },

    async addMembers(roomId, userId, userIds) {
      await assertMember(roomId, userId);
      const row = await roomRow(roomId);
      if (row.kind !== 'group') {
        throw new AppError('forbidden', 'members cannot be added to a DM');
      }
      const current = await memberIds(roomId);
      const added = [...new Set(userIds)].filter((id) => !current.includes(id));
      if (current.length + added.length > MAX_GROUP_MEMBERS) {
        throw new AppError('validation_failed', `a group has at most ${MAX_GROUP_MEMBERS} members`);
      }
      const found = await existingUsers(added);
      if (found.size !== added.length) {
        throw new AppError('not_found', 'some members do not exist');
      }
      await assertNoBlocks(added, current);
      if (added.length > 0) {
        await sql.query(
          `INSERT INTO memberships (room_id, user_id) SELECT $1, unnest($2::uuid[])
           ON CONFLICT DO NOTHING`,
          [roomId, added],
        );
        await forgetMembers(roomId);
        await announce(roomId, [...current, ...added]);
      }
      return view(roomId, userId);
    },

    async removeMember(roomId, actorId, userId) {
      await assertMember(roomId, actorId);
      const row = await roomRow(roomId);
      if (row.kind !== 'group') {
        throw new AppError('forbidden', 'nobody can leave or be removed from a DM');
      }
      if (actorId !== userId && row.owner_id !== actorId) {
        throw new AppError('forbidden', 'only the owner removes other members');
      }
      const current = await memberIds(roomId);
      if (!current.includes(userId)) {
        throw new AppError('not_found', 'that user is not a member');
      }
      await sql.transaction(async (tx) => {
        await tx.query('DELETE FROM memberships WHERE room_id = $1 AND user_id = $2', [
          roomId,
          userId,
        ]);
        if (row.owner_id === userId) {
          // The longest-standing remaining member inherits the room.
          await tx.query(
            `UPDATE rooms SET owner_id = (SELECT user_id FROM memberships WHERE room_id = $1
                                           ORDER BY joined_at, user_id LIMIT 1)
              WHERE id = $1`,
            [roomId],
          );
        }
      });
      await forgetMembers(roomId);
      // The room channel event reaches nodes in order with the room's messages, so nothing sent
      // after the removal is delivered to the removed member.
      await events.toRoom(roomId, { t: 'member_removed', roomId, userId });
      await events.toUser(userId, { t: 'room_removed', roomId });
      await announce(
        roomId,
        current.filter((id) => id !== userId),
      );
    },

    ...readMarkers,

    async dmPartners(userId) {
      const rows = await sql.query<{ user_id: string }>(
        `SELECT other.user_id FROM memberships mine
           JOIN rooms r ON r.id = mine.room_id AND r.kind = 'dm'
           JOIN memberships other ON other.room_id = mine.room_id AND other.user_id <> $1
          WHERE mine.user_id = $1`,
        [userId],
      );
      return rows.map((row) => row.user_id);
    },
  };
}
