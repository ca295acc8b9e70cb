import { exportJWK, generateKeyPair } from 'jose';
import pg from 'pg';
import { hash } from '@node-rs/argon2';
import { createAccessTokenSigner } from '../../shared/auth/access-tokens.ts';
import { signingKeysFromJson } from '../../shared/auth/keys.ts';
import { migrate } from '../../shared/db/migrate.ts';
import { openPgSql } from '../../shared/db/pg.ts';
import { newId } from '../../shared/ids.ts';

/**
 * The benchmark's fast path to many accounts. Registering 100,000 users through the API would
 * spend argon2id on each one by design; instead the harness writes accounts straight into a
 * database of its own (`atlas_bench`), all with one precomputed hash of BENCH_PASSWORD, gives
 * each one login (token family), and mints access tokens with the signing key the nodes are
 * started with. What a node does with them (verify, check the login, read rooms) is unchanged.
 */
export const BENCH_PASSWORD = 'bench password 0123456789';

export interface BenchDatabase {
  url: string;
  adminUrl: string;
}

export function benchDatabase(baseUrl: string, name = 'atlas_bench'): BenchDatabase {
  const url = new URL(baseUrl);
  const admin = new URL(baseUrl);
  url.pathname = `/${name}`;
  admin.pathname = '/postgres';
  admin.username = 'postgres';
  admin.password = '';
  return { url: url.toString(), adminUrl: admin.toString() };
}

export interface SeededUser {
  id: string;
  username: string;
  sessionId: string;
}

/** A fresh signing key for one run, as the JSON the nodes read from ATLAS_SIGNING_KEY. */
export async function newSigningKeyJson(): Promise<string> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  return JSON.stringify({ ...(await exportJWK(privateKey)), kid: 'bench-1' });
}

/**
 * Creates the bench database when missing (as the trusted `postgres` user, falling back to the
 * configured user), brings its schema up to date and empties the tables a run fills.
 */
export async function resetBenchDatabase(db: BenchDatabase): Promise<void> {
  const name = new URL(db.url).pathname.slice(1);
  const owner = decodeURIComponent(new URL(db.url).username);
  for (const adminUrl of [db.adminUrl, sameServer(db.url, 'postgres')]) {
    const admin = new pg.Client({ connectionString: adminUrl });
    try {
      await admin.connect();
      const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (exists.rowCount === 0) {
        await admin.query(`CREATE DATABASE ${name} OWNER ${owner}`);
      }
      break;
    } catch {
      // Try the next way in; connecting to the database below says what finally failed.
    } finally {
      await admin.end().catch(() => undefined);
    }
  }
  const sql = await openPgSql({ connectionString: db.url, max: 2 });
  try {
    await migrate(sql);
    await sql.query(
      `TRUNCATE memberships, rooms, refresh_tokens, token_families, friendships,
         friend_requests, blocks, users CASCADE`,
    );
  } finally {
    await sql.close();
  }
}

function sameServer(url: string, database: string): string {
  const copy = new URL(url);
  copy.pathname = `/${database}`;
  return copy.toString();
}

/** Inserts `count` users named `<prefix><i>` with one login each; rows go in batches. */
export async function seedUsers(
  db: BenchDatabase,
  prefix: string,
  count: number,
): Promise<SeededUser[]> {
  const passwordHash = await hash(BENCH_PASSWORD, {
    algorithm: 2,
    memoryCost: 19_456,
    timeCost: 2,
    parallelism: 1,
  });
  const users: SeededUser[] = Array.from({ length: count }, (_, i) => ({
    id: newId(),
    username: `${prefix}${i}`,
    sessionId: newId(),
  }));
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    for (let start = 0; start < users.length; start += 5_000) {
      const batch = users.slice(start, start + 5_000);
      await client.query(
        `INSERT INTO users (id, username, username_key, password_hash, display_name)
         SELECT id, name, name, $3, name FROM unnest($1::uuid[], $2::text[]) AS u(id, name)`,
        [batch.map((u) => u.id), batch.map((u) => u.username), passwordHash],
      );
      await client.query(
        `INSERT INTO token_families (id, user_id)
         SELECT * FROM unnest($1::uuid[], $2::uuid[])`,
        [batch.map((u) => u.sessionId), batch.map((u) => u.id)],
      );
    }
    // Fresh statistics, or the planner keeps plans made for empty tables.
    await client.query('ANALYZE users, token_families');
  } finally {
    await client.end();
  }
  return users;
}

/** Creates group rooms with the given members (no member limit: this is the seeding path). */
export async function seedRooms(
  db: BenchDatabase,
  rooms: ReadonlyArray<{ id: string; memberIds: readonly string[] }>,
): Promise<void> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    for (let start = 0; start < rooms.length; start += 2_000) {
      const batch = rooms.slice(start, start + 2_000);
      await client.query(
        `INSERT INTO rooms (id, kind, name, owner_id)
         SELECT id, 'group', 'bench', owner FROM unnest($1::uuid[], $2::uuid[]) AS r(id, owner)`,
        [batch.map((r) => r.id), batch.map((r) => r.memberIds[0])],
      );
      const roomIds: string[] = [];
      const userIds: string[] = [];
      for (const room of batch) {
        for (const memberId of room.memberIds) {
          roomIds.push(room.id);
          userIds.push(memberId);
        }
      }
      await client.query(
        `INSERT INTO memberships (room_id, user_id)
         SELECT * FROM unnest($1::uuid[], $2::uuid[])`,
        [roomIds, userIds],
      );
    }
    await client.query('ANALYZE rooms, memberships');
  } finally {
    await client.end();
  }
}

/** Access tokens for the users, signed as a login would sign them. */
export async function mintAccessTokens(
  signingKeyJson: string,
  users: readonly SeededUser[],
  ttlSeconds: number,
): Promise<string[]> {
  const keys = await signingKeysFromJson(signingKeyJson);
  const sign = createAccessTokenSigner(keys.privateKey, keys.kid, {
    issuer: 'atlas',
    audience: 'atlas',
    ttlSeconds,
  });
  const tokens: string[] = [];
  for (const user of users) {
    tokens.push(await sign(user.id, user.sessionId));
  }
  return tokens;
}
