import { Client, Pool, types, type ClientConfig, type NeonConfig } from '@neondatabase/serverless';
import type { Sql } from '../ports/sql.ts';
import { createPoolSql, pgliteCompatibleTypes, type TypeParserLookup } from './pool-sql.ts';

/** The WebSocket settings of the Neon driver that a deployment chooses (see RUNBOOK.md). */
export type NeonSocketSettings = Partial<
  Pick<
    NeonConfig,
    | 'wsProxy'
    | 'useSecureWebSocket'
    | 'pipelineConnect'
    | 'webSocketConstructor'
    | 'forceDisablePgSSL'
    | 'coalesceWrites'
    | 'pipelineTLS'
  >
>;

export interface NeonSqlOptions {
  connectionString: string;
  /**
   * Applied to this pool's connections only; anything unset falls back to the driver's global
   * `neonConfig`. Against a plain PostgreSQL behind a WebSocket proxy: `wsProxy`,
   * `useSecureWebSocket: false`, `pipelineConnect: false`, and on Node 20 (no global WebSocket)
   * `webSocketConstructor` from the `ws` package.
   */
  neonConfig?: NeonSocketSettings | undefined;
  /** Connections in the pool. Default 10; an edge invocation usually needs 1. */
  max?: number | undefined;
  /** How long a query waits for a connection before failing with `unavailable`. Default 5000. */
  connectionTimeoutMs?: number | undefined;
  /** Idle connections are closed after this long. Default 10000. */
  idleTimeoutMs?: number | undefined;
  /** Reporter for failures nobody awaits (an idle connection dropped). Default console.error. */
  onError?: ((error: unknown, context: string) => void) | undefined;
}

/**
 * The relational store over the Neon serverless driver: the Postgres protocol over a
 * WebSocket, for edge runtimes where `pg` cannot open TCP sockets. Same queries, migrations,
 * row shapes and error mapping as `openPgSql`. Opening sends nothing: an edge function pays
 * for a connection only when it queries.
 */
export async function openNeonSql(options: NeonSqlOptions): Promise<Sql> {
  const settings = { ...options.neonConfig };
  const report = options.onError ?? reportToConsole;

  /** Neon's per-connection settings live on each client's socket, set as it is made. */
  class ConfiguredClient extends Client {
    constructor(config?: string | ClientConfig) {
      super(config);
      Object.assign(this.neonConfig, settings);
    }
  }
  class ConfiguredPool extends Pool {
    override Client = ConfiguredClient;
  }

  const pool = new ConfiguredPool({
    connectionString: options.connectionString,
    types: pgliteCompatibleTypes(types.getTypeParser as TypeParserLookup) as ClientConfig['types'],
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5_000,
    idleTimeoutMillis: options.idleTimeoutMs ?? 10_000,
  });
  pool.on('error', (error: unknown) => report(error, 'idle neon connection'));
  return createPoolSql({ primary: pool });
}

function reportToConsole(error: unknown, context: string): void {
  console.error(`${context} failed`, error);
}
