/**
 * The pg adapter against a real PostgreSQL: migrations (twice, and racing from two pools), row
 * shapes equal to PGlite's, transactions, failure mapping, read-replica routing, and the users
 * and rooms services giving the same answers as on PGlite. Needs `local/services/postgres.sh
 * start` (or ATLAS_TEST_DATABASE_URL). Each run works in a schema of its own and drops it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { migrate } from '../../shared/db/migrate.ts';
import { migrations } from '../../shared/db/migrations.ts';
import { openPgSql } from '../../shared/db/pg.ts';
import { openPgliteSql } from '../../shared/db/pglite.ts';
import { createRoomHeads } from '../../shared/chat/room-heads.ts';
import type { Sql } from '../../shared/ports/sql.ts';
import { rejectsWithCode } from '../contracts/helpers.ts';
import { DATABASE_URL, quiet, summarize } from './support/env.ts';
import {
  createTestSchema,
  ROW_SHAPES,
  withApplicationName,
  type TestSchema,
} from './support/postgres.ts';
import { freePort } from './support/redis-server.ts';
import { openServicesOver, runUsersAndRoomsScenario } from './support/scenario.ts';

const allIds = migrations.map((migration) => migration.id);
const schemas: TestSchema[] = [];

async function freshSchema(): Promise<TestSchema> {
  const schema = await createTestSchema(DATABASE_URL);
  schemas.push(schema);
  return schema;
}

after(async () => {
  await Promise.all(schemas.map((schema) => schema.drop()));
});

function openPg(url: string, extra: Partial<Parameters<typeof openPgSql>[0]> = {}): Promise<Sql> {
  return openPgSql({ connectionString: url, max: 4, onError: quiet, ...extra });
}

describe('migrations on postgres', { timeout: 60_000 }, () => {
  it('applies every migration once; a second run applies nothing', async () => {
    const sql = await openPg((await freshSchema()).url);
    try {
      assert.deepEqual(await migrate(sql), allIds);
      assert.deepEqual(await migrate(sql), []);
      const recorded = await sql.query<{ id: string }>(
        'SELECT id FROM schema_migrations ORDER BY id',
      );
      assert.deepEqual(
        recorded.map((row) => row.id),
        allIds,
      );
    } finally {
      await sql.close();
    }
  });

  /** Two pools on one schema run `prepare` then migrate at the same moment, ten times over. */
  async function raceTwoMigrators(prepare: (sql: Sql) => Promise<unknown>): Promise<void> {
    for (let round = 0; round < 10; round++) {
      const { url } = await freshSchema();
      const [a, b] = await Promise.all([openPg(url), openPg(url)]);
      try {
        await prepare(a);
        const [fromA, fromB] = await Promise.all([migrate(a), migrate(b)]);
        assert.deepEqual([...fromA, ...fromB].sort(), allIds, `round ${round}`);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    }
  }

  it('lets two pools migrate at once once schema_migrations exists, each migration once', () =>
    // migrate() with no migrations only creates the bookkeeping table.
    raceTwoMigrators((sql) => migrate(sql, [])));

  it('lets two pools migrate one empty schema at once', () =>
    raceTwoMigrators(async () => undefined));
});

describe('pg Sql adapter', { timeout: 60_000 }, () => {
  let schema: TestSchema;
  let sql: Sql;
  let lite: Sql;

  before(async () => {
    schema = await freshSchema();
    sql = await openPg(schema.url);
    lite = await openPgliteSql();
    await Promise.all([migrate(sql), migrate(lite)]);
  });

  after(async () => {
    await Promise.all([sql.close(), lite.close()]);
  });

  it('returns rows shaped like PGlite rows', async () => {
    const [fromPg] = await sql.query(ROW_SHAPES.text, ROW_SHAPES.params);
    const [fromLite] = await lite.query(ROW_SHAPES.text, ROW_SHAPES.params);
    assert.deepEqual(fromPg, fromLite);
    assert.equal(typeof fromPg?.big, 'number');
    assert.equal(typeof fromPg?.huge, 'bigint');
    assert.ok(fromPg?.at instanceof Date);
  });

  it('commits a transaction, and rolls back one that throws', async () => {
    const id = '0190c3a8-0000-7000-8000-0000000000a1';
    const insert = (tx: Pick<Sql, 'query'>, suffix: string) =>
      tx.query(
        `INSERT INTO users (id, username, username_key, password_hash, display_name)
         VALUES ($1, $2, $2, 'x', 'x')`,
        [id, `tx_${suffix}`],
      );
    await assert.rejects(
      sql.transaction(async (tx) => {
        await insert(tx, 'a');
        throw new Error('changed my mind');
      }),
      /changed my mind/,
    );
    assert.equal((await sql.query('SELECT 1 FROM users WHERE id = $1', [id])).length, 0);
    const value = await sql.transaction(async (tx) => {
      await insert(tx, 'b');
      return 'done';
    });
    assert.equal(value, 'done');
    assert.equal((await sql.query('SELECT 1 FROM users WHERE id = $1', [id])).length, 1);
  });

  it('passes constraint errors through with their SQLSTATE, like PGlite', async () => {
    const insert = `INSERT INTO users (id, username, username_key, password_hash, display_name)
      VALUES ($1, 'dup', 'dup', 'x', 'x')`;
    const id = '0190c3a8-0000-7000-8000-0000000000b1';
    for (const store of [sql, lite]) {
      await store.query(insert, [id]);
      await assert.rejects(
        store.query(insert, [id]),
        (error: { code?: string }) => error.code === '23505',
      );
    }
  });

  it('refuses a transaction handle used after the transaction ended', async () => {
    let leaked: Pick<Sql, 'query'> | undefined;
    await sql.transaction(async (tx) => {
      leaked = tx;
    });
    assert.ok(leaked);
    await assert.rejects(leaked.query('SELECT 1'), TypeError);
  });

  it('runs concurrent transactions on separate connections', async () => {
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 8 }, () =>
        sql.transaction(async (tx) => {
          await tx.query('SELECT pg_sleep(0.2)');
        }),
      ),
    );
    const elapsed = performance.now() - started;
    // max 4 connections: two waves of 200 ms, not eight.
    assert.ok(elapsed < 1_000, `took ${elapsed.toFixed(0)} ms`);
  });

  it('draws the fence of a batch only once it holds the room, above any fence drawn while it waited', async () => {
    const heads = createRoomHeads({ sql, storedHead: async () => 0, lockRows: true });
    const roomId = `fence-room-${process.pid}`;
    // The room's row exists, so the second batch below waits on its lock (not on its creation).
    await heads.advance(roomId, async (claim) => ({ head: claim.head, receipts: [], value: 0 }));
    let releaseFirst!: () => void;
    const firstHolds = new Promise<void>((resolve) => {
      const first = heads.advance(roomId, async (claim) => {
        resolve();
        await new Promise<void>((release) => (releaseFirst = release));
        return { head: claim.head, receipts: [], value: claim.fence };
      });
      void first.then((fence) => assert.ok(fence > 0));
    });
    await firstHolds;
    let secondFence = 0;
    const second = heads.advance(roomId, async (claim) => {
      secondFence = claim.fence;
      return { head: claim.head, receipts: [], value: undefined };
    });
    // The second batch is now waiting for the row; a fence drawn meanwhile (by any batch of
    // another room) must be lower than the one the second batch gets.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(secondFence, 0, 'the second batch waits for the first');
    const [drawn] = await sql.query<{ fence: string }>("SELECT nextval('message_fences') AS fence");
    releaseFirst();
    await second;
    assert.ok(secondFence > Number(drawn!.fence), `${secondFence} > ${drawn!.fence}`);
  });

  it('maps a killed backend to unavailable without crashing, then recovers', async () => {
    const name = `atlas_kill_${process.pid}`;
    const victim = await openPg(withApplicationName(schema.url, name));
    try {
      const during = victim.transaction(async (tx) => {
        await tx.query('SELECT 1');
        await terminate(name);
        await tx.query('SELECT 1');
      });
      await rejectsWithCode(() => during, 'unavailable');
      // An idle pooled connection killed under the pool: reported, replaced, no crash.
      await victim.query('SELECT 1');
      await terminate(name);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(await victim.query('SELECT 1 AS one'), [{ one: 1 }]);
    } finally {
      await victim.close();
    }
    await rejectsWithCode(() => victim.query('SELECT 1'), 'unavailable');
  });

  it('fails to open with unavailable when nothing listens', async () => {
    const url = `postgres://atlas:atlas@127.0.0.1:${await freePort()}/atlas`;
    await rejectsWithCode(() => openPg(url), 'unavailable');
    const wrongPassword = new URL(DATABASE_URL);
    wrongPassword.password = 'not-the-password';
    await rejectsWithCode(() => openPg(wrongPassword.toString()), 'unavailable');
  });

  it('measures statement and transaction latency next to PGlite', async (t) => {
    for (const [label, store] of [
      ['pg', sql],
      ['pglite', lite],
    ] as const) {
      const selects = await sample(500, () => store.query('SELECT 1'));
      const txs = await sample(200, () =>
        store.transaction(async (tx) => {
          await tx.query('SELECT read_seq FROM memberships WHERE room_id = $1', [
            '0190c3a8-0000-7000-8000-000000000001',
          ]);
        }),
      );
      t.diagnostic(`${label} SELECT 1: ${summarize(selects)}`);
      t.diagnostic(`${label} transaction (BEGIN, 1 query, COMMIT): ${summarize(txs)}`);
    }
  });
});

describe('read replica routing', { timeout: 30_000 }, () => {
  const whoAmI = "SELECT current_setting('application_name') AS app";

  it('sends plain SELECTs outside transactions to the replica, the rest to the primary', async () => {
    const { url } = await freshSchema();
    const sql = await openPg(withApplicationName(url, 'test-primary'), {
      readConnectionString: withApplicationName(url, 'test-replica'),
      readReplicaForSelects: true,
    });
    try {
      await migrate(sql);
      const app = async (text: string) => (await sql.query<{ app: string }>(text))[0]?.app;
      assert.equal(await app(whoAmI), 'test-replica');
      assert.equal(
        await app(`  select current_setting('application_name') AS app`),
        'test-replica',
      );
      assert.equal(await app(`WITH x AS (SELECT 1) ${whoAmI}`), 'test-primary');
      assert.equal(
        await app(`${whoAmI} FROM schema_migrations LIMIT 1 FOR UPDATE`),
        'test-primary',
      );
      assert.equal(
        await app(`SELECT pg_try_advisory_xact_lock(1), ${whoAmI.slice(7)}`),
        'test-primary',
      );
      const inTx = await sql.transaction(
        async (tx) => (await tx.query<{ app: string }>(whoAmI))[0]?.app,
      );
      assert.equal(inTx, 'test-primary');
    } finally {
      await sql.close();
    }
  });

  it('uses the primary only unless readReplicaForSelects is set', async () => {
    const { url } = await freshSchema();
    const sql = await openPg(withApplicationName(url, 'test-primary'), {
      readConnectionString: withApplicationName(url, 'test-replica'),
    });
    try {
      assert.deepEqual(await sql.query(whoAmI), [{ app: 'test-primary' }]);
    } finally {
      await sql.close();
    }
    await assert.rejects(
      openPgSql({ connectionString: url, readReplicaForSelects: true }),
      TypeError,
    );
  });

  it('reads from the primary while the replica is down', async () => {
    const { url } = await freshSchema();
    const dead = `postgres://atlas:atlas@127.0.0.1:${await freePort()}/atlas`;
    const sql = await openPg(withApplicationName(url, 'test-primary'), {
      readConnectionString: dead,
      readReplicaForSelects: true,
    });
    try {
      assert.deepEqual(await sql.query(whoAmI), [{ app: 'test-primary' }]);
      assert.deepEqual(await sql.query(whoAmI), [{ app: 'test-primary' }]);
    } finally {
      await sql.close();
    }
  });
});

describe('users and rooms services on postgres', { timeout: 60_000 }, () => {
  it('answer exactly as they do on PGlite', async (t) => {
    const { url } = await freshSchema();
    const onPg = await openServicesOver(await openPg(url));
    const onLite = await openServicesOver(await openPgliteSql());
    t.after(() => Promise.all([onPg.close(), onLite.close()]));
    const pgStarted = performance.now();
    const fromPg = await runUsersAndRoomsScenario(onPg.services);
    const pgMs = performance.now() - pgStarted;
    const liteStarted = performance.now();
    const fromLite = await runUsersAndRoomsScenario(onLite.services);
    const liteMs = performance.now() - liteStarted;
    assert.deepEqual(fromPg, fromLite);
    assert.ok(fromPg.length > 40, 'the scenario ran');
    t.diagnostic(
      `scenario: ${fromPg.length} steps, pg ${pgMs.toFixed(0)} ms, pglite ${liteMs.toFixed(0)} ms`,
    );
  });
});

/** Ends every backend with this application_name, as an operator or a failover would. */
async function terminate(applicationName: string): Promise<void> {
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
      [applicationName],
    );
  } finally {
    await admin.end();
  }
}

async function sample(count: number, work: () => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await work();
    samples.push(performance.now() - started);
  }
  return samples;
}
