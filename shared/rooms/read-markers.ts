import type { Events } from '../events.ts';
import type { MessageStore, Sql } from '../ports/index.ts';

/** A sender's own message: they have read the room up to it. */
export interface SentMark {
  roomId: string;
  userId: string;
  seq: number;
}

/**
 * Members' read markers. A marker only moves forward, never past the room's last message, and
 * whoever posts has read up to their own message.
 */
export function createReadMarkers(deps: {
  sql: Sql;
  store: MessageStore;
  events: Events;
  assertMember: (roomId: string, userId: string) => Promise<void>;
}) {
  const { sql, store, events, assertMember } = deps;

  async function markSentMany(marks: readonly SentMark[]): Promise<void> {
    // One row per member: UPDATE ... FROM uses an arbitrary one of several matching rows.
    const highest = new Map<string, SentMark>();
    for (const mark of marks) {
      const key = `${mark.roomId}:${mark.userId}`;
      const known = highest.get(key);
      if (known === undefined || known.seq < mark.seq) {
        highest.set(key, mark);
      }
    }
    if (highest.size === 0) {
      return;
    }
    const rows = [...highest.values()];
    await sql.query(
      `UPDATE memberships m SET read_seq = GREATEST(m.read_seq, s.seq), posted = true
         FROM unnest($1::uuid[], $2::uuid[], $3::bigint[]) AS s (room_id, user_id, seq)
        WHERE m.room_id = s.room_id AND m.user_id = s.user_id`,
      [rows.map((row) => row.roomId), rows.map((row) => row.userId), rows.map((row) => row.seq)],
    );
  }

  return {
    async markRead(roomId: string, userId: string, seq: number, announce = true): Promise<number> {
      await assertMember(roomId, userId);
      const last = (await store.latest([roomId])).get(roomId)?.seq ?? 0;
      const target = Math.min(seq, last);
      const rows = await sql.query<{ read_seq: string | number }>(
        `UPDATE memberships SET read_seq = GREATEST(read_seq, $3)
          WHERE room_id = $1 AND user_id = $2 RETURNING read_seq`,
        [roomId, userId, target],
      );
      const readSeq = Number(rows[0]?.read_seq ?? 0);
      if (announce) {
        await events.toRoom(roomId, { t: 'read', roomId, userId, seq: readSeq });
      }
      return readSeq;
    },

    markSent(roomId: string, userId: string, seq: number): Promise<void> {
      return markSentMany([{ roomId, userId, seq }]);
    },

    markSentMany,

    async readMarkers(roomId: string, viewerId: string): Promise<Map<string, number>> {
      await assertMember(roomId, viewerId);
      const rows = await sql.query<{ user_id: string; read_seq: string | number }>(
        'SELECT user_id, read_seq FROM memberships WHERE room_id = $1',
        [roomId],
      );
      return new Map(rows.map((row) => [row.user_id, Number(row.read_seq)]));
    },
  };
}
