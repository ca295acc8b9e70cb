import type { Sql } from '../ports/sql.ts';
import { migrations as defaultMigrations, type Migration } from './migrations.ts';

/** Arbitrary constant naming the advisory lock that serialises concurrent migrators. */
const MIGRATION_LOCK_KEY = 7_310_042;

/**
 * Applies every migration not yet recorded in `schema_migrations`, each in its own transaction.
 * Safe to run from several processes at once: an advisory lock makes the others wait, and they
 * then find nothing left to do.
 */
export async function migrate(
  sql: Sql,
  migrations: readonly Migration[] = defaultMigrations,
): Promise<string[]> {
  // Even creating the bookkeeping table races on an empty database (two CREATE TABLE IF NOT
  // EXISTS collide on the catalog), so it happens under the lock too.
  await sql.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      id text PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
  });
  const applied: string[] = [];
  for (const migration of migrations) {
    const done = await sql.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      const seen = await tx.query('SELECT 1 FROM schema_migrations WHERE id = $1', [migration.id]);
      if (seen.length > 0) {
        return false;
      }
      for (const statement of migration.statements) {
        await tx.query(statement);
      }
      await tx.query('INSERT INTO schema_migrations (id) VALUES ($1)', [migration.id]);
      return true;
    });
    if (done) {
      applied.push(migration.id);
    }
  }
  return applied;
}
