import { AppError } from '../errors.ts';
import type { Sql, SqlQuery } from '../ports/sql.ts';

/**
 * The Sql port over a node-postgres style pool. Both `pg` and `@neondatabase/serverless` (which
 * bundles a copy of pg) fit these structural types, so the transaction, routing and error rules
 * live here once, and this file imports neither driver (an edge bundle must not pull in `pg`).
 */
export interface PoolClientLike {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  /** A truthy argument destroys the connection instead of returning it to the pool. */
  release(destroy?: boolean | Error): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
  off(event: 'error', listener: (error: Error) => void): unknown;
}

export interface PoolLike {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  connect(): Promise<PoolClientLike>;
  end(): Promise<void>;
}

export interface PoolSqlOptions {
  /** Takes every write, every transaction, and reads unless `replica` is given. */
  primary: PoolLike;
  /** Reads plain SELECTs issued outside transactions (see `isReplicaSafe`). */
  replica?: PoolLike | undefined;
  /** After the replica failed, reads skip it for this long. Default 5000. */
  replicaRetryMs?: number | undefined;
  /** Clock for the replica back-off; tests pass their own. Default Date.now. */
  now?: () => number;
}

/** Driver-level type parsing, as node-postgres's `types.getTypeParser` offers it. */
export type TypeParserLookup = (
  oid: number,
  format?: 'text' | 'binary',
) => (value: string) => unknown;

/** What a hot standby cancels a read with when replay needs its rows: the primary can answer. */
const HOT_STANDBY_CONFLICT = '40001';

const INT8_OID = 20;
const INT8_ARRAY_OID = 1016;
const TEXT_ARRAY_OID = 1009;

/**
 * Parsers that make rows look like PGlite's, which the services were written against: bigint
 * (`read_seq`, `count(*)`) becomes a number while it is a safe integer and a BigInt beyond, where
 * pg alone would give a string. Timestamps are Date objects on both already.
 */
export function pgliteCompatibleTypes(base: TypeParserLookup): { getTypeParser: TypeParserLookup } {
  const parseTextArray = base(TEXT_ARRAY_OID, 'text');
  return {
    getTypeParser(oid, format) {
      if (format !== 'binary' && oid === INT8_OID) {
        return parseInt8;
      }
      if (format !== 'binary' && oid === INT8_ARRAY_OID) {
        return (value) =>
          (parseTextArray(value) as Array<string | null>).map((item) =>
            item === null ? null : parseInt8(item),
          );
      }
      return base(oid, format);
    },
  };
}

function parseInt8(value: string): number | bigint {
  const number = Number(value);
  return Number.isSafeInteger(number) ? number : BigInt(value);
}

/**
 * Statements that may go to a replica: a SELECT first, and nothing that needs the primary
 * (row locks, sequences, advisory locks, SELECT INTO). Anything else, including a SELECT that
 * starts with a comment or a WITH, stays on the primary: the test is deliberately conservative.
 * It cannot see a SELECT that calls a function which writes; no ATLAS query does.
 */
export function isReplicaSafe(text: string): boolean {
  return (
    /^\s*SELECT\b/i.test(text) &&
    !/\bFOR\s+(UPDATE|NO\s+KEY\s+UPDATE|SHARE|KEY\s+SHARE)\b|\b(nextval|setval|pg_advisory\w*|pg_try_advisory\w*)\s*\(|\bINTO\b/i.test(
      text,
    )
  );
}

export function createPoolSql(options: PoolSqlOptions): Sql {
  const { primary, replica } = options;
  const now = options.now ?? Date.now;
  const replicaRetryMs = options.replicaRetryMs ?? 5_000;
  let replicaDownUntil = 0;
  let closed = false;

  async function query<Row extends object>(text: string, params?: readonly unknown[]) {
    assertOpen();
    const values = params ? [...params] : undefined;
    if (replica && now() >= replicaDownUntil && isReplicaSafe(text)) {
      try {
        return await rows<Row>(() => replica.query(text, values));
      } catch (error) {
        if (error instanceof AppError && error.code === 'unavailable') {
          // The primary answers instead (fresher, if anything), and takes the reads for a
          // while so that a dead replica does not cost every SELECT a connect timeout.
          replicaDownUntil = now() + replicaRetryMs;
        } else if (!(isServerError(error) && error.code === HOT_STANDBY_CONFLICT)) {
          throw error;
        }
      }
    }
    return rows<Row>(() => primary.query(text, values));
  }

  async function transaction<T>(work: (tx: SqlQuery) => Promise<T>): Promise<T> {
    assertOpen();
    const client = await run(() => primary.connect());
    // A checked-out client whose connection dies emits 'error'; unheard, it would crash us.
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken = error;
    };
    client.on('error', onError);
    let finished = false;
    const scoped: SqlQuery = {
      async query<Row extends object>(text: string, params?: readonly unknown[]) {
        if (finished) {
          throw new TypeError('this transaction has ended; use the Sql it came from');
        }
        return rows<Row>(() => client.query(text, params ? [...params] : undefined));
      },
    };
    try {
      await run(() => client.query('BEGIN'));
      const result = await work(scoped);
      await run(() => client.query('COMMIT'));
      return result;
    } catch (error) {
      if (!broken) {
        await client.query('ROLLBACK').catch((rollbackError: unknown) => {
          broken =
            rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        });
      }
      throw error;
    } finally {
      finished = true;
      client.off('error', onError);
      client.release(broken ?? false);
    }
  }

  async function close(): Promise<void> {
    if (closed) {
      return;
    }
    closed = true;
    await Promise.all([primary.end(), replica?.end()]);
  }

  function assertOpen(): void {
    if (closed) {
      throw sqlUnavailable('sql is closed');
    }
  }

  return { query, transaction, close };
}

/** Runs one driver call, mapping its failure with `toSqlFailure`. */
async function run<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toSqlFailure(error);
  }
}

async function rows<Row extends object>(call: () => Promise<{ rows: unknown[] }>): Promise<Row[]> {
  const result = await run(call);
  return result.rows as Row[];
}

/**
 * SQLSTATEs that mean "the database cannot serve this now", not "this statement is wrong":
 * connection exceptions (class 08, but 08P01 is a protocol bug), insufficient resources (53),
 * shutdowns and cancellations (57), system errors (58), refused logins and missing databases
 * (a deployment problem the caller cannot fix either), and writes reaching a read-only node.
 */
const UNAVAILABLE_SQLSTATE = /^(08(?!P01)|53|57|58|28|3D000$|25006$)/;

/**
 * Maps a driver failure to what callers expect: connection loss, timeouts and the SQLSTATEs
 * above become AppError('unavailable'); other server errors (constraint violations, syntax) and
 * programmer errors stay as they are.
 */
export function toSqlFailure(error: unknown): unknown {
  if (error instanceof AppError || error instanceof TypeError || error instanceof RangeError) {
    return error;
  }
  if (isServerError(error)) {
    return UNAVAILABLE_SQLSTATE.test(error.code)
      ? sqlUnavailable(`database unavailable (${error.code})`, error)
      : error;
  }
  // Everything else comes from below the protocol: refused or reset sockets, timeouts,
  // "Connection terminated", a WebSocket that closed.
  return sqlUnavailable('database unavailable', error);
}

function isServerError(error: unknown): error is Error & { code: string } {
  return (
    error instanceof Error &&
    'severity' in error &&
    'code' in error &&
    typeof error.code === 'string' &&
    /^[0-9A-Z]{5}$/.test(error.code)
  );
}

export function sqlUnavailable(message: string, cause?: unknown): AppError {
  const error = new AppError('unavailable', message, 1);
  if (cause !== undefined) {
    error.cause = cause;
  }
  return error;
}
