import pg from 'pg';
import type { Sql } from '../ports/sql.ts';
import {
  createPoolSql,
  pgliteCompatibleTypes,
  toSqlFailure,
  type TypeParserLookup,
} from './pool-sql.ts';

export interface PgSqlOptions {
  /** DATABASE_URL: the primary. */
  connectionString: string;
  /** DATABASE_READ_URL: a streaming replica. Used only with `readReplicaForSelects: true`. */
  readConnectionString?: string | undefined;
  /**
   * Sends plain SELECTs issued outside a transaction to the replica. The trade-off: a replica
   * lags, so a read right after a write may not see it. Today's services read their own writes
   * in places (register then login; addMembers then view; a revoked login checked against
   * `token_families` where the cache missed), so with this on, a just-registered user may fail
   * to log in, or a revoked session may stay usable for as long as the replica lags. Turn it on
   * only for deployments whose replica lag is known to be small against those windows; reads
   * inside `transaction()` always go to the primary.
   */
  readReplicaForSelects?: boolean | undefined;
  /** Connections per pool (primary, and replica when used). Default 10. */
  max?: number | undefined;
  /** How long a query waits for a connection before failing with `unavailable`. Default 5000. */
  connectionTimeoutMs?: number | undefined;
  /** Idle connections are closed after this long. Default 30000. */
  idleTimeoutMs?: number | undefined;
  /** Reporter for failures nobody awaits (an idle connection dropped). Default console.error. */
  onError?: ((error: unknown, context: string) => void) | undefined;
}

/**
 * The relational store over node-postgres pools. Rows look like PGlite's (bigint as number), so
 * the same services and migrations run on both. Opening checks the primary answers; failures
 * then and later reject with AppError('unavailable') and never crash the process.
 */
export async function openPgSql(options: PgSqlOptions): Promise<Sql> {
  if (options.readReplicaForSelects && !options.readConnectionString) {
    throw new TypeError('openPgSql: readReplicaForSelects needs readConnectionString');
  }
  const report = options.onError ?? reportToConsole;
  // pg-types declares getTypeParser with overloads per format; one signature covers both here.
  const types = pgliteCompatibleTypes(
    pg.types.getTypeParser as TypeParserLookup,
  ) as unknown as pg.CustomTypesConfig;
  const openPool = (connectionString: string, role: string) => {
    const pool = new pg.Pool({
      connectionString,
      types,
      max: options.max ?? 10,
      connectionTimeoutMillis: options.connectionTimeoutMs ?? 5_000,
      idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
      application_name: `atlas-${role}`,
    });
    // Idle clients that lose their connection (a restart, a failover) emit this on the pool.
    pool.on('error', (error) => report(error, `idle postgres ${role} connection`));
    return pool;
  };
  const primary = openPool(options.connectionString, 'primary');
  const replica =
    options.readReplicaForSelects && options.readConnectionString
      ? openPool(options.readConnectionString, 'replica')
      : undefined;
  // Only the primary must answer now: reads fall back to it while the replica is down.
  try {
    await primary.query('SELECT 1');
  } catch (error) {
    await Promise.allSettled([primary.end(), replica?.end()]);
    throw toSqlFailure(error);
  }
  return createPoolSql({ primary, replica });
}

function reportToConsole(error: unknown, context: string): void {
  console.error(`${context} failed`, error);
}
