import type { MessageStore, Sql } from '../ports/index.ts';
import type { RoomRow, RoomView } from './rooms.ts';

function isoDate(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : new Date(value).toISOString();
}

/**
 * Builds rooms as one member sees them: counters from the message store, the member's read
 * marker, and a DM named after the other member. One store call and two queries per list.
 */
export function createRoomViews(deps: {
  sql: Sql;
  store: MessageStore;
  memberIds: (roomId: string) => Promise<string[]>;
}) {
  const { sql, store, memberIds } = deps;
  return async function views(userId: string, rows: readonly RoomRow[]): Promise<RoomView[]> {
    if (rows.length === 0) {
      return [];
    }
    const ids = rows.map((row) => row.id);
    const [latest, markers, members] = await Promise.all([
      store.latest(ids),
      sql.query<{ room_id: string; read_seq: string | number }>(
        'SELECT room_id, read_seq FROM memberships WHERE user_id = $1 AND room_id = ANY($2::uuid[])',
        [userId, ids],
      ),
      Promise.all(ids.map((id) => memberIds(id))),
    ]);
    const readSeqs = new Map(markers.map((row) => [row.room_id, Number(row.read_seq)]));
    const peerIds = rows
      .map((row, i) => (row.kind === 'dm' ? members[i]?.find((id) => id !== userId) : undefined))
      .filter((id): id is string => id !== undefined);
    const peerNames = new Map<string, string>();
    if (peerIds.length > 0) {
      const names = await sql.query<{ id: string; display_name: string }>(
        'SELECT id, display_name FROM users WHERE id = ANY($1::uuid[])',
        [peerIds],
      );
      for (const row of names) {
        peerNames.set(row.id, row.display_name);
      }
    }
    return rows.map((row, i) => {
      const memberList = members[i] ?? [];
      const last = latest.get(row.id) ?? null;
      const lastSeq = last?.seq ?? 0;
      const readSeq = Math.min(readSeqs.get(row.id) ?? 0, lastSeq);
      const peerId = row.kind === 'dm' ? (memberList.find((id) => id !== userId) ?? null) : null;
      return {
        id: row.id,
        kind: row.kind,
        name: peerId ? (peerNames.get(peerId) ?? row.name) : row.name,
        ownerId: row.owner_id,
        memberIds: memberList,
        peerId,
        lastSeq,
        readSeq,
        unread: lastSeq - readSeq,
        lastMessage: last,
        createdAt: isoDate(row.created_at),
      };
    });
  };
}
