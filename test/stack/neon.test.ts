/**
 * The Neon serverless driver adapter against the real local PostgreSQL, through a WebSocket
 * proxy of the tests' own (support/ws-proxy.ts), the way an edge function reaches Neon: the
 * same migrations, row shapes, transactions and services scenario as on pg and PGlite.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { migrate } from '../../shared/db/migrate.ts';
import { migrations } from '../../shared/db/migrations.ts';
import { openNeonSql } from '../../shared/db/neon.ts';
import { openPgSql } from '../../shared/db/pg.ts';
import { openPgliteSql } from '../../shared/db/pglite.ts';
import type { Sql } from '../../shared/ports/sql.ts';
import { rejectsWithCode } from '../contracts/helpers.ts';
import { DATABASE_URL, quiet, summarize } from './support/env.ts';
import { createTestSchema, ROW_SHAPES, type TestSchema } from './support/postgres.ts';
import { openServicesOver, runUsersAndRoomsScenario } from './support/scenario.ts';
import { startWsProxy, type WsProxy } from './support/ws-proxy.ts';

const database = new URL(DATABASE_URL);
let proxy: WsProxy;
let schema: TestSchema;

before(async () => {
  proxy = await startWsProxy({ allow: [`${database.hostname}:${database.port || '5432'}`] });
  schema = await createTestSchema(DATABASE_URL);
});

after(async () => {
  await schema.drop();
  await proxy.close();
});

function openNeon(url: string): Promise<Sql> {
  return openNeonSql({
    connectionString: url,
    max: 4,
    onError: quiet,
    neonConfig: {
      wsProxy: proxy.address,
      useSecureWebSocket: false,
      pipelineConnect: false,
      webSocketConstructor: WebSocket,
    },
  });
}

describe('neon Sql adapter through a WebSocket proxy', { timeout: 60_000 }, () => {
  let sql: Sql;
  let lite: Sql;

  before(async () => {
    sql = await openNeon(schema.url);
    lite = await openPgliteSql();
  });

  after(async () => {
    await Promise.all([sql.close(), lite.close()]);
  });

  it('migrates, and finds nothing left on a second run', async () => {
    assert.deepEqual(
      await migrate(sql),
      migrations.map((migration) => migration.id),
    );
    assert.deepEqual(await migrate(sql), []);
    await migrate(lite);
    assert.ok(proxy.stats().accepted > 0, 'the queries went through the proxy');
  });

  it('returns rows shaped like PGlite rows', async () => {
    const [fromNeon] = await sql.query(ROW_SHAPES.text, ROW_SHAPES.params);
    const [fromLite] = await lite.query(ROW_SHAPES.text, ROW_SHAPES.params);
    assert.deepEqual(fromNeon, fromLite);
  });

  it('commits a transaction, and rolls back one that throws', async () => {
    await sql.query('CREATE TABLE neon_tx (n int PRIMARY KEY)');
    await assert.rejects(
      sql.transaction(async (tx) => {
        await tx.query('INSERT INTO neon_tx VALUES (1)');
        throw new Error('changed my mind');
      }),
      /changed my mind/,
    );
    await sql.transaction(async (tx) => {
      await tx.query('INSERT INTO neon_tx VALUES (2)');
    });
    assert.deepEqual(await sql.query('SELECT n FROM neon_tx'), [{ n: 2 }]);
    await assert.rejects(
      sql.query('INSERT INTO neon_tx VALUES (2)'),
      (error: { code?: string }) => {
        return error.code === '23505';
      },
    );
  });

  it('maps a dropped proxy connection to unavailable without crashing, then recovers', async () => {
    const during = sql.transaction(async (tx) => {
      await tx.query('SELECT 1');
      proxy.dropAll();
      await tx.query('SELECT 1');
    });
    await rejectsWithCode(() => during, 'unavailable');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(await sql.query('SELECT 1 AS one'), [{ one: 1 }]);
  });

  it('fails with unavailable when the proxy refuses the target', async () => {
    const elsewhere = new URL(schema.url);
    elsewhere.port = '1';
    const refused = proxy.stats().refused;
    const other = await openNeon(elsewhere.toString());
    try {
      await rejectsWithCode(() => other.query('SELECT 1'), 'unavailable');
    } finally {
      await other.close();
    }
    assert.equal(proxy.stats().refused, refused + 1);
  });

  it('measures statement latency next to pg', async (t) => {
    const direct = await openPgSql({ connectionString: schema.url, max: 4, onError: quiet });
    try {
      for (const [label, store] of [
        ['neon via ws proxy', sql],
        ['pg direct', direct],
      ] as const) {
        const selects = await sample(300, () => store.query('SELECT 1'));
        t.diagnostic(`${label} SELECT 1: ${summarize(selects)}`);
      }
      const fresh = await sample(20, async () => {
        const once = await openNeon(schema.url);
        await once.query('SELECT 1');
        await once.close();
      });
      t.diagnostic(`neon open + first query + close (edge cold path): ${summarize(fresh)}`);
    } finally {
      await direct.close();
    }
  });
});

describe('users and rooms services through the neon driver', { timeout: 60_000 }, () => {
  it('answer exactly as they do on PGlite', async (t) => {
    const own = await createTestSchema(DATABASE_URL);
    t.after(() => own.drop());
    const onNeon = await openServicesOver(await openNeon(own.url));
    const onLite = await openServicesOver(await openPgliteSql());
    t.after(() => Promise.all([onNeon.close(), onLite.close()]));
    const fromNeon = await runUsersAndRoomsScenario(onNeon.services);
    const fromLite = await runUsersAndRoomsScenario(onLite.services);
    assert.deepEqual(fromNeon, fromLite);
  });
});

async function sample(count: number, work: () => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await work();
    samples.push(performance.now() - started);
  }
  return samples;
}
