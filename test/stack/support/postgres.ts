import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * A schema of one test run's own in the shared test database. Its URL carries
 * `options=-c search_path=<schema>`, so every connection opened from it (pg, or the Neon driver
 * through the proxy) creates and finds the tables there; `drop` removes it and all it holds.
 */
export interface TestSchema {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export async function createTestSchema(baseUrl: string): Promise<TestSchema> {
  const name = `atlas_test_${randomBytes(6).toString('hex')}`;
  await admin(baseUrl, `CREATE SCHEMA ${name}`);
  const url = new URL(baseUrl);
  url.searchParams.set('options', `-c search_path=${name}`);
  return {
    name,
    url: url.toString(),
    drop: () => admin(baseUrl, `DROP SCHEMA IF EXISTS ${name} CASCADE`),
  };
}

async function admin(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** The same URL with another application_name, so a test can tell which pool served a query. */
export function withApplicationName(url: string, name: string): string {
  const copy = new URL(url);
  copy.searchParams.set('application_name', name);
  return copy.toString();
}

/**
 * One row of every type the services read, with the params it needs: run it on an adapter and
 * on PGlite and compare the rows whole.
 */
export const ROW_SHAPES = {
  text: `SELECT 7::bigint AS big, 9007199254740993::bigint AS huge, count(*) AS n,
    2::int AS i, true AS yes, 1.5::numeric AS dec, '{"a":[1]}'::jsonb AS doc,
    ARRAY[1, 2]::bigint[] AS bigs, ARRAY[$1::uuid] AS ids, NULL::text AS nothing,
    '2025-01-02T03:04:05.678Z'::timestamptz AS at`,
  params: ['0190c3a8-0000-7000-8000-000000000001'],
} as const;
