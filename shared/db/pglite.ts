import { PGlite } from '@electric-sql/pglite';
import type { Sql, SqlQuery } from '../ports/sql.ts';

/**
 * The embedded relational store: the real PostgreSQL engine in-process, data in `dataDir`
 * (memory when omitted). PGlite runs one statement at a time, so transactions are serialised.
 */
export async function openPgliteSql(dataDir?: string): Promise<Sql> {
  const db = dataDir === undefined ? new PGlite() : new PGlite(dataDir);
  await db.waitReady;

  return {
    exclusive: true,
    async query<Row extends object>(text: string, params?: readonly unknown[]) {
      const result = await db.query<Row>(text, params ? [...params] : undefined);
      return result.rows;
    },
    async transaction<T>(work: (tx: SqlQuery) => Promise<T>): Promise<T> {
      return db.transaction(async (tx) => {
        const scoped: SqlQuery = {
          async query<Row extends object>(text: string, params?: readonly unknown[]) {
            const result = await tx.query<Row>(text, params ? [...params] : undefined);
            return result.rows;
          },
        };
        return work(scoped);
      });
    },
    async close() {
      await db.close();
    },
  };
}
