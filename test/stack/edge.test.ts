/**
 * The edge entries (functions/auth/edge.ts, functions/users/edge.ts) bundled by the edge build
 * and run in workerd, Cloudflare Workers' runtime, answering real HTTP requests. PostgreSQL is
 * the real local server, reached the way a Worker reaches Neon: the Neon driver over a
 * WebSocket, here through the tests' WebSocket-to-TCP proxy.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { verify as verifyNative } from '@node-rs/argon2';
import { exportJWK, generateKeyPair } from 'jose';
import { buildEdgeBundles } from '../../functions/runtime/build-edge.ts';
import { migrate } from '../../shared/db/migrate.ts';
import { openPgSql } from '../../shared/db/pg.ts';
import type { Reply } from '../support/api.ts';
import { DATABASE_URL } from './support/env.ts';
import {
  assertBadRequestsAnsweredLikeNode,
  jsonRequest,
  storedUser,
  type FunctionRequest,
} from './support/function-entries.ts';
import { createTestSchema, type TestSchema } from './support/postgres.ts';
import { startWorkerd, type RunningWorkerd } from './support/workerd.ts';
import { startWsProxy, type WsProxy } from './support/ws-proxy.ts';

const PASSWORD = 'a long edge password';
let outDir: string;
let schema: TestSchema;
let proxy: WsProxy;
let workerd: RunningWorkerd;

before(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'atlas-edge-'));
  const database = new URL(DATABASE_URL);
  proxy = await startWsProxy({ allow: [`${database.hostname}:${database.port || '5432'}`] });
  schema = await createTestSchema(DATABASE_URL);
  // Edge entries never migrate (the Node processes do at deploy); migrate the schema first.
  const sql = await openPgSql({ connectionString: schema.url });
  await migrate(sql);
  await sql.close();

  const bundles = await buildEdgeBundles(outDir);
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const bindings = {
    DATABASE_URL: schema.url,
    ATLAS_SIGNING_KEY: JSON.stringify({ ...(await exportJWK(privateKey)), kid: 'edge-test' }),
    NEON_WS_PROXY: proxy.address,
    NEON_WS_INSECURE: '1',
    LOG_LEVEL: 'warn',
  };
  workerd = await startWorkerd([
    { name: 'auth', modulePath: bundles.auth, bindings },
    { name: 'users', modulePath: bundles.users, bindings },
  ]);
});

after(async () => {
  await workerd?.stop();
  await proxy?.close();
  await schema?.drop();
  await rm(outDir, { recursive: true, force: true });
});

async function call(name: 'auth' | 'users', request: FunctionRequest): Promise<Reply> {
  const url = `${workerd.urls[name]}${request.path}${request.query ? `?${request.query}` : ''}`;
  const init: RequestInit = { method: request.method, headers: request.headers ?? {} };
  if (request.body !== undefined) {
    init.body = request.body;
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`${name} answered ${response.status} with ${text}\n${workerd.output()}`);
  }
  return { status: response.status, headers: response.headers, body };
}

describe('edge entries in workerd, over the Neon driver', { timeout: 120_000 }, () => {
  const username = `edge_${randomUUID().slice(0, 8)}`;
  let accessToken: string;
  let userId: string;

  it('registers through the auth worker, with a hash the native argon2 verifies', async () => {
    const accepted = proxy.stats().accepted;
    const reply = await call(
      'auth',
      jsonRequest('POST', '/api/auth/register', { username, password: PASSWORD }),
    );
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
    accessToken = reply.body.accessToken as string;
    userId = (reply.body.user as { id: string }).id;
    assert.ok(proxy.stats().accepted > accepted, 'the worker reached PostgreSQL through the proxy');

    const stored = await storedUser(schema.url, userId);
    assert.match(stored.password_hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.equal(await verifyNative(stored.password_hash, PASSWORD), true);
  });

  it('logs in, and refuses a wrong password', async () => {
    const login = await call(
      'auth',
      jsonRequest('POST', '/api/auth/login', { username, password: PASSWORD }),
    );
    assert.equal(login.status, 200, JSON.stringify(login.body));
    assert.equal((login.body.user as { id: string }).id, userId);
    const wrong = await call(
      'auth',
      jsonRequest('POST', '/api/auth/login', { username, password: 'nope nope' }),
    );
    assert.equal(wrong.status, 401);
    assert.equal((wrong.body.error as { code: string }).code, 'invalid_credentials');
  });

  it('reads and edits the profile through the users worker with the token auth issued', async () => {
    const me = await call('users', {
      method: 'GET',
      path: '/api/me',
      headers: { authorization: `Bearer ${accessToken}` },
    });
    assert.equal(me.status, 200, JSON.stringify(me.body));
    assert.equal((me.body.user as { username: string }).username, username);

    const patched = await call(
      'users',
      jsonRequest('PATCH', '/api/me', { displayName: 'Edge' }, accessToken),
    );
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal((await storedUser(schema.url, userId)).display_name, 'Edge');
  });

  it('serves the public keys, and leaves no database connection open after a request', async () => {
    const jwks = await call('auth', { method: 'GET', path: '/api/auth/jwks' });
    assert.equal(jwks.status, 200);
    assert.equal((jwks.body.keys as Array<{ kid: string }>)[0]?.kid, 'edge-test');
    // Each request closes its own connection (Workers cannot share sockets across requests).
    const deadline = Date.now() + 5_000;
    while (proxy.stats().open > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(proxy.stats().open, 0);
  });

  it('answers bad requests with the codes the Node server gives', async () => {
    await assertBadRequestsAnsweredLikeNode(call, schema.url);
  });
});
