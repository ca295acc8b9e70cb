/**
 * The relational store (PostgreSQL's role): accounts, profiles, friendships, rooms, memberships
 * and read markers. Implemented over PGlite (embedded), pg and the Neon driver; the queries and
 * migrations are the same text on all of them.
 */
export interface Sql {
  /** Runs one parameterised statement ($1, $2, ...) and returns its rows. */
  query<Row extends object = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ): Promise<Row[]>;
  /** Runs `work` inside one transaction; a thrown error rolls it back. */
  transaction<T>(work: (tx: SqlQuery) => Promise<T>): Promise<T>;
  /**
   * True when this process is the database's only client (PGlite holds its data directory), so
   * work that one process already serialises needs no row locks against other processes.
   */
  readonly exclusive?: boolean;
  close(): Promise<void>;
}

export type SqlQuery = Pick<Sql, 'query'>;
