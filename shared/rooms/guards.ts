import { AppError } from '../errors.ts';
import type { Sql } from '../ports/index.ts';

/** The checks on who may share a room, one query each. */
export function createRoomGuards(sql: Sql) {
  /** Whether anyone in `joining` blocked, or is blocked by, anyone in `joining` or `together`. */
  async function anyBlockBetween(
    joining: readonly string[],
    together: readonly string[],
  ): Promise<boolean> {
    if (joining.length === 0) {
      return false;
    }
    const rows = await sql.query(
      `SELECT 1 FROM blocks
        WHERE (blocker_id = ANY($1::uuid[]) AND blocked_id = ANY($2::uuid[]))
           OR (blocked_id = ANY($1::uuid[]) AND blocker_id = ANY($2::uuid[]))
        LIMIT 1`,
      [[...joining], [...new Set([...joining, ...together])]],
    );
    return rows.length > 0;
  }

  return {
    blockedEitherWay: (a: string, b: string) => anyBlockBetween([a], [b]),

    /**
     * Nobody joins a group together with someone they blocked or who blocked them, whoever adds
     * them: a block must not be escaped by starting or filling a group instead of a DM.
     */
    async assertNoBlocks(joining: readonly string[], together: readonly string[]): Promise<void> {
      if (await anyBlockBetween(joining, together)) {
        throw new AppError('blocked', 'a block stands between some of these users');
      }
    },

    async existingUsers(ids: readonly string[]): Promise<Set<string>> {
      if (ids.length === 0) {
        return new Set();
      }
      const rows = await sql.query<{ id: string }>(
        'SELECT id FROM users WHERE id = ANY($1::uuid[])',
        [[...ids]],
      );
      return new Set(rows.map((row) => row.id));
    },
  };
}
