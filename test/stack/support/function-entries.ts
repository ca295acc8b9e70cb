import assert from 'node:assert/strict';
import pg from 'pg';
import { createAuthApp } from '../../../functions/auth/app.ts';
import { createUsersApp } from '../../../functions/users/app.ts';
import type { ErrorCode } from '../../../shared/errors.ts';
import type { Reply } from '../../support/api.ts';
import { openPgSql } from '../../../shared/db/pg.ts';
import { openServicesOver } from './scenario.ts';

/**
 * What the runtime-entry tests share: one way to call a function whatever its runtime, and the
 * bad requests every runtime must answer with the codes the Node server gives.
 */
export interface FunctionRequest {
  method: string;
  path: string;
  query?: string;
  headers?: Record<string, string>;
  body?: string;
}

/** Calls one function app (by name) through the runtime under test. */
export type CallFunction = (name: 'auth' | 'users', request: FunctionRequest) => Promise<Reply>;

const JSON_HEADERS = { 'content-type': 'application/json' };

interface BadRequestCase {
  name: string;
  fn: 'auth' | 'users';
  request: FunctionRequest;
  status: number;
  code: ErrorCode;
}

export const BAD_REQUESTS: readonly BadRequestCase[] = [
  {
    name: 'malformed JSON',
    fn: 'auth',
    request: { method: 'POST', path: '/api/auth/login', headers: JSON_HEADERS, body: '{"user' },
    status: 400,
    code: 'invalid_json',
  },
  {
    name: 'a body that is not JSON',
    fn: 'auth',
    request: {
      method: 'POST',
      path: '/api/auth/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=a',
    },
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'a field out of its schema',
    fn: 'auth',
    request: {
      method: 'POST',
      path: '/api/auth/register',
      headers: JSON_HEADERS,
      body: JSON.stringify({ username: 'x', password: 'short' }),
    },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'the wrong method',
    fn: 'auth',
    request: { method: 'GET', path: '/api/auth/register' },
    status: 404,
    code: 'not_found',
  },
  {
    name: 'a missing token',
    fn: 'users',
    request: { method: 'GET', path: '/api/me' },
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'a forged token',
    fn: 'users',
    request: {
      method: 'GET',
      path: '/api/me',
      headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' },
    },
    status: 401,
    code: 'unauthorized',
  },
];

/**
 * Asserts every bad request gets the same status and code from `call` as from the apps the
 * Node server runs, here over the PostgreSQL at `databaseUrl`.
 */
export async function assertBadRequestsAnsweredLikeNode(
  call: CallFunction,
  databaseUrl: string,
): Promise<void> {
  const node = await nodeReference(databaseUrl);
  try {
    for (const { name, fn, request, status, code } of BAD_REQUESTS) {
      const fromNode = await node.call(fn, request);
      assertErrorCode(fromNode, status, code, `node: ${name}`);
      const fromRuntime = await call(fn, request);
      assertErrorCode(fromRuntime, status, code, name);
    }
  } finally {
    await node.close();
  }
}

function assertErrorCode(reply: Reply, status: number, code: ErrorCode, label: string): void {
  const error = reply.body.error as { code?: unknown; message?: unknown } | undefined;
  assert.equal(error?.code, code, `${label}: ${reply.status} ${JSON.stringify(reply.body)}`);
  assert.equal(reply.status, status, label);
  assert.equal(typeof error?.message, 'string', label);
}

/** The auth and users apps as the Node server builds them. */
async function nodeReference(databaseUrl: string) {
  const sql = await openPgSql({ connectionString: databaseUrl });
  const { services, close } = await openServicesOver(sql);
  const apps = {
    auth: createAuthApp(services, { clientAddress: () => '192.0.2.1' }),
    users: createUsersApp(services),
  };
  return {
    async call(name: 'auth' | 'users', request: FunctionRequest): Promise<Reply> {
      const url = `http://node.test${request.path}${request.query ? `?${request.query}` : ''}`;
      const init: RequestInit = { method: request.method, headers: request.headers ?? {} };
      if (request.body !== undefined) {
        init.body = request.body;
      }
      const response = await apps[name].request(url, init);
      return { status: response.status, headers: response.headers, body: await response.json() };
    },
    // Closes the services and the Sql they run over.
    close,
  };
}

/** A random address in 2001:db8::/32 (documentation range): rate limits per address stay fresh. */
export function documentationAddress(): string {
  const group = () => Math.floor(Math.random() * 0x10000).toString(16);
  return `2001:db8:${group()}:${group()}::${group()}`;
}

/** A JSON request, with the bearer token when given. */
export function jsonRequest(
  method: string,
  path: string,
  body: unknown,
  token?: string,
): FunctionRequest {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) {
    headers.authorization = `Bearer ${token}`;
  }
  return { method, path, headers, body: JSON.stringify(body) };
}

/** A user's row as stored, read with a client of the test's own. */
export async function storedUser(
  databaseUrl: string,
  userId: string,
): Promise<{ password_hash: string; display_name: string | null }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ password_hash: string; display_name: string | null }>(
      'SELECT password_hash, display_name FROM users WHERE id = $1',
      [userId],
    );
    assert.ok(rows[0], `no user ${userId}`);
    return rows[0];
  } finally {
    await client.end();
  }
}
