import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  jwtVerify,
  SignJWT,
  UnsecuredJWT,
  type CryptoKey,
  type JSONWebKeySet,
  type JWTPayload,
} from 'jose';
import { createAuthApp } from '../functions/auth/app.ts';
import { createUsersApp } from '../functions/users/app.ts';
import { SIGNING_ALGORITHM } from '../shared/auth/keys.ts';
import { sha256Base64url } from '../shared/encoding.ts';
import type { ApiEnv } from '../shared/http/app.ts';
import { MAX_JSON_BODY_BYTES } from '../shared/http/validate.ts';
import { isId } from '../shared/ids.ts';
import type { Services } from '../shared/services.ts';
import { createTestServices, registerUser, type TestUser } from './support/services.ts';
import { assertError, type Reply } from './support/api.ts';

/** The address the main auth app sees for every request (TEST-NET-3, never a real client). */
const CLIENT_ADDRESS = '203.0.113.7';
const PASSWORD = 'correct horse battery';
const ACCESS_TTL_SECONDS = 900;

let services: Services;
let closeServices: () => Promise<void>;
let authApp: Hono<ApiEnv>;
let usersApp: Hono<ApiEnv>;

/** Auth apps over the same services that see other client addresses (throttles are per address). */
const appsByAddress = new Map<string, Hono<ApiEnv>>();
let addressCount = 0;

function authAppFrom(address: string): Hono<ApiEnv> {
  if (address === CLIENT_ADDRESS) {
    return authApp;
  }
  let app = appsByAddress.get(address);
  if (!app) {
    app = createAuthApp(services, { clientAddress: () => address });
    appsByAddress.set(address, app);
  }
  return app;
}

/** A fresh address (TEST-NET-2), so a test's requests never share a quota with another test's. */
function freshAddress(): string {
  addressCount += 1;
  return `198.51.${100 + Math.floor(addressCount / 250)}.${(addressCount % 250) + 1}`;
}

let nameCount = 0;

/** Unique, valid usernames (3-32 of [A-Za-z0-9_]); the tests share one database. */
function uniqueName(label: string): string {
  nameCount += 1;
  return `${label}_${nameCount}_${Math.random().toString(36).slice(2, 7)}`;
}

interface CallOptions {
  token?: string;
  json?: unknown;
  raw?: BodyInit;
  headers?: Record<string, string>;
}

async function request(
  app: Hono<ApiEnv>,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Reply> {
  const headers = new Headers(options.headers);
  if (options.token !== undefined) {
    headers.set('authorization', `Bearer ${options.token}`);
  }
  let body: BodyInit | undefined = options.raw;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
  }
  if (body !== undefined && !headers.has('content-type')) {
    headers.set('content-type', 'application/json');
  }
  const init: RequestInit & { duplex?: 'half' } = { method, headers };
  if (body !== undefined) {
    init.body = body;
    if (body instanceof ReadableStream) {
      init.duplex = 'half';
    }
  }
  const response = await app.request(path, init);
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

function auth(path: string, options: CallOptions & { address?: string } = {}): Promise<Reply> {
  const method = path === '/api/auth/jwks' ? 'GET' : 'POST';
  return request(authAppFrom(options.address ?? CLIENT_ADDRESS), method, path, options);
}

/** The protected route that proves a token is honoured. */
function me(token: string): Promise<Reply> {
  return request(usersApp, 'GET', '/api/me', { token });
}

interface Tokens {
  user: { id: string; username: string; displayName: string };
  accessToken: string;
  refreshToken: string;
}

function assertTokens(reply: Reply, status: number): Tokens {
  assert.equal(reply.status, status, JSON.stringify(reply.body));
  assert.deepEqual(Object.keys(reply.body).sort(), ['accessToken', 'refreshToken', 'user']);
  const tokens = reply.body as unknown as Tokens;
  assert.equal(typeof tokens.accessToken, 'string');
  assert.equal(typeof tokens.refreshToken, 'string');
  assert.ok(tokens.refreshToken.length >= 32);
  assert.ok(isId(tokens.user.id));
  return tokens;
}

async function assertMeIs(token: string, userId: string): Promise<void> {
  const reply = await me(token);
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  assert.equal((reply.body.user as { id: string }).id, userId);
}

async function login(username: string, password: string, address = CLIENT_ADDRESS): Promise<Reply> {
  return auth('/api/auth/login', { json: { username, password }, address });
}

async function refresh(refreshToken: string): Promise<Reply> {
  return auth('/api/auth/refresh', { json: { refreshToken } });
}

/** A user made through the services (fast, no HTTP registration quota spent). */
async function newUser(label: string): Promise<TestUser> {
  return registerUser(services, uniqueName(label));
}

before(async () => {
  const built = await createTestServices();
  services = built.services;
  closeServices = built.close;
  authApp = createAuthApp(services, { clientAddress: () => CLIENT_ADDRESS });
  usersApp = createUsersApp(services);
});

after(async () => {
  await closeServices();
});

describe('register', () => {
  it('creates the user and a working login: 201 {user, accessToken, refreshToken}', async () => {
    const username = uniqueName('Reg');
    const reply = await auth('/api/auth/register', { json: { username, password: PASSWORD } });
    const tokens = assertTokens(reply, 201);
    assert.equal(tokens.user.username, username);
    assert.equal(tokens.user.displayName, username, 'displayName defaults to the username');
    assert.ok(
      !JSON.stringify(reply.body).toLowerCase().includes('password'),
      'no password or hash leaks into the reply',
    );
    await assertMeIs(tokens.accessToken, tokens.user.id);

    const refreshed = assertTokens(await refresh(tokens.refreshToken), 200);
    assert.equal(refreshed.user.id, tokens.user.id);
  });

  it('stores the display name trimmed', async () => {
    const reply = await auth('/api/auth/register', {
      json: { username: uniqueName('trim'), password: PASSWORD, displayName: '  Ann Example  ' },
      address: freshAddress(),
    });
    assert.equal(assertTokens(reply, 201).user.displayName, 'Ann Example');
  });

  it('accepts the boundary lengths: 3 and 32 character usernames, 8 and 256 character passwords', async () => {
    const short = `a${Math.random().toString(36).slice(2, 4)}`;
    const long = uniqueName('x').padEnd(32, 'z').slice(0, 32);
    for (const body of [
      { username: short, password: '12345678' },
      { username: long, password: 'p'.repeat(256), displayName: 'd'.repeat(64) },
    ]) {
      const reply = await auth('/api/auth/register', { json: body, address: freshAddress() });
      assertTokens(reply, 201);
    }
    const logged = await login(short.toUpperCase(), '12345678', freshAddress());
    assertTokens(logged, 200);
  });

  it('stores an argon2id hash with the OWASP parameters, never the password', async () => {
    const reply = await auth('/api/auth/register', {
      json: { username: uniqueName('hash'), password: PASSWORD },
      address: freshAddress(),
    });
    const { user } = assertTokens(reply, 201);
    const rows = await services.platform.sql.query<{ password_hash: string }>(
      'SELECT password_hash FROM users WHERE id = $1',
      [user.id],
    );
    const hash = rows[0]?.password_hash ?? '';
    assert.ok(hash.startsWith('$argon2id$v=19$m=19456,t=2,p=1$'), hash);
    assert.ok(!hash.includes(PASSWORD));
  });

  it('refuses a taken username, case-insensitively, with 409 username_taken', async () => {
    const username = `Case_${uniqueName('u')}`;
    assertTokens(
      await auth('/api/auth/register', {
        json: { username, password: PASSWORD },
        address: freshAddress(),
      }),
      201,
    );
    for (const again of [username, username.toLowerCase(), username.toUpperCase()]) {
      const reply = await auth('/api/auth/register', {
        json: { username: again, password: 'another password' },
        address: freshAddress(),
      });
      assertError(reply, 409, 'username_taken');
    }
  });

  it('lets exactly one of two concurrent registrations of one name succeed', async () => {
    const username = uniqueName('race');
    const replies = await Promise.all(
      [username, username.toUpperCase()].map((name) =>
        auth('/api/auth/register', {
          json: { username: name, password: PASSWORD },
          address: freshAddress(),
        }),
      ),
    );
    const statuses = replies.map((reply) => reply.status).sort();
    assert.deepEqual(statuses, [201, 409]);
    const loser = replies.find((reply) => reply.status === 409);
    assert.ok(loser);
    assertError(loser, 409, 'username_taken');
  });

  const invalidBodies: Array<[string, unknown]> = [
    ['username too short', { username: 'ab', password: PASSWORD }],
    ['username too long', { username: 'u'.repeat(33), password: PASSWORD }],
    ['username with a space', { username: 'has space', password: PASSWORD }],
    ['username with a dash', { username: 'dash-name', password: PASSWORD }],
    ['username with a non-ASCII letter', { username: 'émile_x', password: PASSWORD }],
    ['username with a NUL', { username: 'nul\u0000name', password: PASSWORD }],
    ['empty username', { username: '', password: PASSWORD }],
    ['password too short', { username: 'valid_name', password: '1234567' }],
    ['password too long', { username: 'valid_name', password: 'p'.repeat(257) }],
    ['password with a lone high surrogate', { username: 'valid_name', password: 'abcdefgh\ud800' }],
    ['password with a lone low surrogate', { username: 'valid_name', password: '\udc00abcdefgh' }],
    ['empty displayName', { username: 'valid_name', password: PASSWORD, displayName: '' }],
    ['blank displayName', { username: 'valid_name', password: PASSWORD, displayName: '   ' }],
    [
      'displayName too long',
      { username: 'valid_name', password: PASSWORD, displayName: 'd'.repeat(65) },
    ],
    [
      'displayName with a lone surrogate',
      { username: 'valid_name', password: PASSWORD, displayName: 'a\ud83db' },
    ],
    [
      'displayName with a NUL',
      { username: 'valid_name', password: PASSWORD, displayName: 'a\u0000b' },
    ],
    [
      'displayName with a newline',
      { username: 'valid_name', password: PASSWORD, displayName: 'a\nb' },
    ],
    ['username of the wrong type', { username: 12345, password: PASSWORD }],
    ['password of the wrong type', { username: 'valid_name', password: true }],
    [
      'displayName of the wrong type',
      { username: 'valid_name', password: PASSWORD, displayName: 5 },
    ],
    ['displayName null', { username: 'valid_name', password: PASSWORD, displayName: null }],
    ['missing password', { username: 'valid_name' }],
    ['missing username', { password: PASSWORD }],
    ['an array', [{ username: 'valid_name', password: PASSWORD }]],
    ['a string', 'valid_name'],
    ['null', null],
    ['a number', 42],
  ];
  for (const [label, body] of invalidBodies) {
    it(`refuses ${label} with validation_failed`, async () => {
      const reply = await auth('/api/auth/register', { json: body, address: freshAddress() });
      assertError(reply, 400, 'validation_failed');
    });
  }

  it('refused bodies create nothing', async () => {
    const rows = await services.platform.sql.query(
      "SELECT 1 FROM users WHERE username_key = 'valid_name'",
    );
    assert.equal(rows.length, 0);
  });

  const malformed: Array<[string, BodyInit]> = [
    ['truncated JSON', '{"username": "abc",'],
    ['plain text', 'username=abc&password=x'],
    ['an empty body', ''],
    ['invalid UTF-8', new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
  ];
  for (const [label, raw] of malformed) {
    it(`refuses ${label} with invalid_json`, async () => {
      const reply = await auth('/api/auth/register', { raw, address: freshAddress() });
      assertError(reply, 400, 'invalid_json');
    });
  }

  it('refuses a request without a body with invalid_json', async () => {
    const reply = await auth('/api/auth/register', { address: freshAddress() });
    assertError(reply, 400, 'invalid_json');
  });

  /** A valid registration body padded with JSON whitespace to exactly `bytes` bytes. */
  function paddedBody(bytes: number): string {
    const json = JSON.stringify({ username: uniqueName('big'), password: PASSWORD });
    return json.slice(0, -1) + ' '.repeat(bytes - Buffer.byteLength(json)) + '}';
  }

  it('accepts a body of exactly 64 KiB', async () => {
    const raw = paddedBody(MAX_JSON_BODY_BYTES);
    assert.equal(Buffer.byteLength(raw), MAX_JSON_BODY_BYTES);
    assertTokens(await auth('/api/auth/register', { raw, address: freshAddress() }), 201);
  });

  it('refuses a body one byte over 64 KiB with payload_too_large', async () => {
    const reply = await auth('/api/auth/register', {
      raw: paddedBody(MAX_JSON_BODY_BYTES + 1),
      address: freshAddress(),
    });
    assertError(reply, 413, 'payload_too_large');
  });

  it('refuses an oversize Content-Length before reading the body', async () => {
    const reply = await auth('/api/auth/register', {
      raw: '{}',
      headers: { 'content-length': String(MAX_JSON_BODY_BYTES + 1) },
      address: freshAddress(),
    });
    assertError(reply, 413, 'payload_too_large');
  });

  it('refuses an oversize streamed body that declares no length', async () => {
    const chunk = new TextEncoder().encode(' '.repeat(16 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += 1;
        // Never-ending whitespace: the server must stop reading at the limit, not at the end.
        controller.enqueue(sent === 1 ? new TextEncoder().encode('{') : chunk);
        if (sent > 1000) {
          controller.close();
        }
      },
    });
    const reply = await auth('/api/auth/register', { raw: stream, address: freshAddress() });
    assertError(reply, 413, 'payload_too_large');
    assert.ok(sent < 20, `read ${sent} chunks; the limit should stop the read early`);
  });

  it('allows 20 registrations per address per hour, then 429 rate_limited with Retry-After', async () => {
    const address = freshAddress();
    for (let i = 0; i < 20; i++) {
      const reply = await auth('/api/auth/register', {
        json: { username: uniqueName('q'), password: PASSWORD },
        address,
      });
      assertTokens(reply, 201);
    }
    const refused = await auth('/api/auth/register', {
      json: { username: uniqueName('q'), password: PASSWORD },
      address,
    });
    assertError(refused, 429, 'rate_limited');
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(retryAfter > 3500 && retryAfter <= 3600, `Retry-After ${retryAfter}`);

    const elsewhere = await auth('/api/auth/register', {
      json: { username: uniqueName('q'), password: PASSWORD },
      address: freshAddress(),
    });
    assertTokens(elsewhere, 201);
  });
});

describe('login', () => {
  it('answers 200 {user, accessToken, refreshToken} with a working token, case-insensitively', async () => {
    const user = await newUser('Login');
    for (const name of [user.username, user.username.toUpperCase()]) {
      const tokens = assertTokens(await login(name, PASSWORD), 200);
      assert.equal(tokens.user.id, user.userId);
      assert.equal(tokens.user.username, user.username);
      await assertMeIs(tokens.accessToken, user.userId);
    }
  });

  it('starts a separate login each time: separate refresh tokens, one logout ends one login', async () => {
    const user = await newUser('two');
    const first = assertTokens(await login(user.username, PASSWORD), 200);
    const second = assertTokens(await login(user.username, PASSWORD), 200);
    assert.notEqual(first.refreshToken, second.refreshToken);
    assert.deepEqual(
      (await auth('/api/auth/logout', { json: { refreshToken: first.refreshToken } })).body,
      {
        ok: true,
      },
    );
    assertError(await me(first.accessToken), 401, 'token_revoked');
    await assertMeIs(second.accessToken, user.userId);
  });

  it('answers a wrong password and an unknown user alike: 401 invalid_credentials, same body', async () => {
    const user = await newUser('creds');
    const wrongPassword = await login(user.username, 'not the password', freshAddress());
    const unknownUser = await login(uniqueName('ghost'), PASSWORD, freshAddress());
    assertError(wrongPassword, 401, 'invalid_credentials');
    assertError(unknownUser, 401, 'invalid_credentials');
    // Identical bodies: the reply must not reveal whether the account exists.
    assert.deepEqual(wrongPassword.body, unknownUser.body);
    assert.deepEqual([...wrongPassword.headers.keys()].filter((h) => h !== 'x-request-id').sort(), [
      ...[...unknownUser.headers.keys()].filter((h) => h !== 'x-request-id').sort(),
    ]);
  });

  it('answers usernames no account can have (NUL, look-alike letters) with invalid_credentials', async () => {
    const user = await newUser('kelvin');
    // U+212A KELVIN SIGN lower-cases to an ASCII k: it must not be an alias of the real name.
    const lookAlike = user.username.replace('k', '\u212a');
    assert.notEqual(lookAlike, user.username);
    for (const username of [`${user.username}\u0000`, 'nul\u0000name', lookAlike, '\ud800x']) {
      assertError(await login(username, PASSWORD, freshAddress()), 401, 'invalid_credentials');
    }
  });

  const invalidBodies: Array<[string, unknown]> = [
    ['a missing password', { username: 'someone' }],
    ['a missing username', { password: PASSWORD }],
    ['a numeric password', { username: 'someone', password: 12345678 }],
    ['an overlong username', { username: 'u'.repeat(65), password: PASSWORD }],
    ['an overlong password', { username: 'someone', password: 'p'.repeat(257) }],
    ['an array', []],
  ];
  for (const [label, body] of invalidBodies) {
    it(`refuses ${label} with validation_failed`, async () => {
      assertError(await auth('/api/auth/login', { json: body }), 400, 'validation_failed');
    });
  }

  it('refuses malformed JSON with invalid_json', async () => {
    assertError(await auth('/api/auth/login', { raw: '{"username":' }), 400, 'invalid_json');
  });

  it('throttles an address after 5 failures (429 login_throttled, Retry-After), not the real user elsewhere', async () => {
    const user = await newUser('victim');
    const attacker = freshAddress();
    for (let i = 0; i < 5; i++) {
      assertError(
        await login(user.username, `guess number ${i}`, attacker),
        401,
        'invalid_credentials',
      );
    }
    for (const password of ['guess number 5', PASSWORD]) {
      const throttled = await login(user.username, password, attacker);
      assertError(throttled, 429, 'login_throttled');
      const retryAfter = Number(throttled.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 300, `Retry-After ${retryAfter}`);
    }
    // The same account, from the user's own address, still logs in with the right password...
    const home = freshAddress();
    const tokens = assertTokens(await login(user.username, PASSWORD, home), 200);
    await assertMeIs(tokens.accessToken, user.userId);
    // ...and a wrong password there is an ordinary failure, not a throttle.
    assertError(await login(user.username, 'fat finger', home), 401, 'invalid_credentials');
    // Other accounts from the throttled address are not affected either.
    const other = await newUser('bystander');
    assertTokens(await login(other.username, PASSWORD, attacker), 200);
  });

  it('throttles unknown usernames the same way as real ones', async () => {
    const address = freshAddress();
    const ghost = uniqueName('ghost');
    for (let i = 0; i < 5; i++) {
      assertError(await login(ghost, `guess ${i}`, address), 401, 'invalid_credentials');
    }
    assertError(await login(ghost, 'guess 5', address), 429, 'login_throttled');
  });

  it('forgives earlier failures after a successful login', async () => {
    const user = await newUser('forgive');
    const address = freshAddress();
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 4; i++) {
        assertError(await login(user.username, `typo ${i}`, address), 401, 'invalid_credentials');
      }
      assertTokens(await login(user.username, PASSWORD, address), 200);
    }
  });
});

describe('refresh', () => {
  it('rotates: the new refresh token works once, the old one no longer does', async () => {
    const user = await newUser('rot');
    const first = assertTokens(await refresh(user.refreshToken), 200);
    assert.equal(first.user.id, user.userId);
    assert.notEqual(first.refreshToken, user.refreshToken);
    await assertMeIs(first.accessToken, user.userId);
    // Access tokens of the same login stay valid across a normal rotation.
    await assertMeIs(user.accessToken, user.userId);

    const second = assertTokens(await refresh(first.refreshToken), 200);
    assert.notEqual(second.refreshToken, first.refreshToken);
    await assertMeIs(second.accessToken, user.userId);
  });

  it('revokes the whole login when a used refresh token is presented again', async () => {
    const user = await newUser('reuse');
    const other = assertTokens(await login(user.username, PASSWORD), 200);
    const first = assertTokens(await refresh(user.refreshToken), 200);
    const second = assertTokens(await refresh(first.refreshToken), 200);

    // first.refreshToken was already exchanged: a replay means it leaked.
    assertError(await refresh(first.refreshToken), 401, 'token_revoked');

    // The successor is dead too, and so is every access token of that login.
    assertError(await refresh(second.refreshToken), 401, 'token_revoked');
    for (const accessToken of [user.accessToken, first.accessToken, second.accessToken]) {
      assertError(await me(accessToken), 401, 'token_revoked');
    }
    // Another login of the same user is a separate family and survives.
    await assertMeIs(other.accessToken, user.userId);
    assertTokens(await refresh(other.refreshToken), 200);
  });

  it('revokes the login when the very first refresh token is replayed', async () => {
    const user = await newUser('replay');
    const successor = assertTokens(await refresh(user.refreshToken), 200);
    assertError(await refresh(user.refreshToken), 401, 'token_revoked');
    assertError(await refresh(successor.refreshToken), 401, 'token_revoked');
    assertError(await me(successor.accessToken), 401, 'token_revoked');
    assertError(await me(user.accessToken), 401, 'token_revoked');
  });

  it('lets exactly one of two concurrent refreshes with one token win', async () => {
    const user = await newUser('race');
    const replies = await Promise.all([refresh(user.refreshToken), refresh(user.refreshToken)]);
    const statuses = replies.map((reply) => reply.status).sort();
    assert.deepEqual(statuses, [200, 401]);
    const loser = replies.find((reply) => reply.status === 401);
    assert.ok(loser);
    assertError(loser, 401, 'token_revoked');
  });

  it('refuses unknown and expired refresh tokens with unauthorized', async () => {
    assertError(await refresh('not-a-token-we-ever-issued'), 401, 'unauthorized');
    assertError(await refresh(''), 401, 'unauthorized');

    const user = await newUser('expired');
    await services.platform.sql.query(
      "UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
      [await sha256Base64url(user.refreshToken)],
    );
    assertError(await refresh(user.refreshToken), 401, 'unauthorized');
  });

  it('validates the body', async () => {
    assertError(await auth('/api/auth/refresh', { json: {} }), 400, 'validation_failed');
    assertError(
      await auth('/api/auth/refresh', { json: { refreshToken: 42 } }),
      400,
      'validation_failed',
    );
    assertError(
      await auth('/api/auth/refresh', { json: { refreshToken: 'x'.repeat(257) } }),
      400,
      'validation_failed',
    );
    assertError(await auth('/api/auth/refresh', { raw: 'refreshToken=abc' }), 400, 'invalid_json');
  });
});

describe('logout', () => {
  it('revokes the login: its access and refresh tokens stop working', async () => {
    const user = await newUser('bye');
    await assertMeIs(user.accessToken, user.userId);
    const reply = await auth('/api/auth/logout', { json: { refreshToken: user.refreshToken } });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, { ok: true });
    assertError(await me(user.accessToken), 401, 'token_revoked');
    assertError(await refresh(user.refreshToken), 401, 'token_revoked');
    // Logging out twice is harmless.
    assert.deepEqual(
      (await auth('/api/auth/logout', { json: { refreshToken: user.refreshToken } })).body,
      {
        ok: true,
      },
    );
  });

  it('revokes the login also when given an already-rotated refresh token', async () => {
    const user = await newUser('byeold');
    const successor = assertTokens(await refresh(user.refreshToken), 200);
    assert.equal(
      (await auth('/api/auth/logout', { json: { refreshToken: user.refreshToken } })).status,
      200,
    );
    assertError(await refresh(successor.refreshToken), 401, 'token_revoked');
    assertError(await me(successor.accessToken), 401, 'token_revoked');
  });

  it('answers an unknown token with 200 {ok: true} too (no token oracle)', async () => {
    const reply = await auth('/api/auth/logout', { json: { refreshToken: 'never-issued-token' } });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, { ok: true });
  });

  it('validates the body', async () => {
    assertError(await auth('/api/auth/logout', { json: { token: 'x' } }), 400, 'validation_failed');
    assertError(await auth('/api/auth/logout', { raw: '{' }), 400, 'invalid_json');
  });
});

describe('JWKS', () => {
  it('publishes one public EC P-256 key for ES256 and nothing private', async () => {
    const reply = await auth('/api/auth/jwks');
    assert.equal(reply.status, 200);
    const jwks = reply.body as unknown as JSONWebKeySet;
    assert.equal(jwks.keys.length, 1);
    const [key] = jwks.keys;
    assert.ok(key);
    assert.equal(key.kty, 'EC');
    assert.equal(key.crv, 'P-256');
    assert.equal(key.alg, 'ES256');
    assert.equal(key.use, 'sig');
    assert.equal(typeof key.kid, 'string');
    assert.equal(typeof key.x, 'string');
    assert.equal(typeof key.y, 'string');
    assert.equal('d' in key, false, 'the private scalar must never be published');
    assert.match(reply.headers.get('cache-control') ?? '', /max-age=\d+/);
  });

  it('verifies the access tokens the server issues', async () => {
    const user = await newUser('jwks');
    const jwks = (await auth('/api/auth/jwks')).body as unknown as JSONWebKeySet;
    const { payload, protectedHeader } = await jwtVerify(
      user.accessToken,
      createLocalJWKSet(jwks),
      {
        algorithms: ['ES256'],
        issuer: services.config.issuer,
        audience: services.config.audience,
      },
    );
    assert.equal(payload.sub, user.userId);
    assert.equal(protectedHeader.kid, jwks.keys[0]?.kid);
  });
});

describe('access tokens', () => {
  let user: TestUser;
  let sessionId: string;
  let claims: JWTPayload;

  before(async () => {
    user = await newUser('at');
    claims = decodeJwt(user.accessToken);
    sessionId = String(claims.sid);
  });

  /** Signs `payload` like the server does unless told otherwise. */
  async function forge(
    payload: JWTPayload,
    options: { key?: CryptoKey; header?: Record<string, unknown>; iat?: number; exp?: number } = {},
  ): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT(payload)
      .setProtectedHeader({
        alg: SIGNING_ALGORITHM,
        kid: services.keys.kid,
        typ: 'at+jwt',
        ...options.header,
      })
      .setIssuedAt(options.iat ?? now)
      .setExpirationTime(options.exp ?? now + 600)
      .sign(options.key ?? services.keys.privateKey);
  }

  function validPayload(): JWTPayload {
    return {
      iss: services.config.issuer,
      aud: services.config.audience,
      sub: user.userId,
      sid: sessionId,
    };
  }

  it('carries the documented claims and lives 900 seconds', () => {
    const header = decodeProtectedHeader(user.accessToken);
    assert.equal(header.alg, 'ES256');
    assert.equal(header.typ, 'at+jwt');
    assert.equal(header.kid, services.keys.kid);
    assert.equal(claims.iss, services.config.issuer);
    assert.equal(claims.aud, services.config.audience);
    assert.equal(claims.sub, user.userId);
    assert.ok(isId(sessionId));
    assert.equal(typeof claims.iat, 'number');
    assert.equal(typeof claims.exp, 'number');
    const lifetime = (claims.exp ?? 0) - (claims.iat ?? 0);
    assert.ok(Math.abs(lifetime - ACCESS_TTL_SECONDS) <= 1, `lifetime ${lifetime}s`);
    assert.ok(Math.abs((claims.iat ?? 0) - Date.now() / 1000) < 60);
  });

  it('accepts a token forged with the real key and the real claims (the forge helper is sound)', async () => {
    await assertMeIs(await forge(validPayload()), user.userId);
  });

  it('refuses an expired token with token_expired', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await forge(validPayload(), { iat: now - 2000, exp: now - 1000 });
    assertError(await me(token), 401, 'token_expired');
  });

  it('refuses an expired token with a bad signature as unauthorized, not token_expired', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const now = Math.floor(Date.now() / 1000);
    const token = await forge(validPayload(), {
      key: privateKey,
      iat: now - 2000,
      exp: now - 1000,
    });
    assertError(await me(token), 401, 'unauthorized');
  });

  it('refuses a token signed by another P-256 key, even with our kid', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    assertError(await me(await forge(validPayload(), { key: privateKey })), 401, 'unauthorized');
  });

  it('refuses HS256 tokens keyed with the public key (algorithm confusion)', async () => {
    const publicJwk = await exportJWK(services.keys.publicKey);
    const secrets = [
      new TextEncoder().encode(JSON.stringify(publicJwk)),
      new TextEncoder().encode(JSON.stringify(services.keys.jwks)),
      new TextEncoder().encode(await exportSPKI(services.keys.publicKey)),
    ];
    for (const secret of secrets) {
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT(validPayload())
        .setProtectedHeader({ alg: 'HS256', kid: services.keys.kid, typ: 'at+jwt' })
        .setIssuedAt(now)
        .setExpirationTime(now + 600)
        .sign(secret);
      assertError(await me(token), 401, 'unauthorized');
    }
  });

  it('refuses unsigned (alg none) tokens', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = new UnsecuredJWT(validPayload())
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .encode();
    assertError(await me(token), 401, 'unauthorized');
    // The same with the signature of a real token glued on.
    const signature = user.accessToken.split('.')[2] ?? '';
    assertError(await me(`${token}${signature}`), 401, 'unauthorized');
  });

  const claimDefects: Array<[string, (payload: JWTPayload) => JWTPayload]> = [
    ['a wrong issuer', (p) => ({ ...p, iss: 'someone-else' })],
    ['a missing issuer', ({ iss: _iss, ...p }) => p],
    ['a wrong audience', (p) => ({ ...p, aud: 'another-service' })],
    ['a missing audience', ({ aud: _aud, ...p }) => p],
    ['a missing sid', ({ sid: _sid, ...p }) => p],
    ['a non-id sid', (p) => ({ ...p, sid: 'session-1' })],
    ['a missing sub', ({ sub: _sub, ...p }) => p],
    ['a non-id sub', (p) => ({ ...p, sub: 'admin' })],
  ];
  for (const [label, mutate] of claimDefects) {
    it(`refuses a token with ${label} as unauthorized`, async () => {
      assertError(await me(await forge(mutate(validPayload()))), 401, 'unauthorized');
    });
  }

  it('refuses a token without the at+jwt type (for instance an ID token)', async () => {
    const token = await forge(validPayload(), { header: { typ: 'JWT' } });
    assertError(await me(token), 401, 'unauthorized');
  });

  it('refuses a token whose signature was tampered with or whose payload was swapped', async () => {
    const other = await newUser('other');
    const [header, , signature] = user.accessToken.split('.');
    const [, otherPayload] = other.accessToken.split('.');
    assertError(await me(`${header}.${otherPayload}.${signature}`), 401, 'unauthorized');
    const flipped = `${user.accessToken.slice(0, -2)}${user.accessToken.endsWith('AA') ? 'BB' : 'AA'}`;
    assertError(await me(flipped), 401, 'unauthorized');
  });

  it('refuses missing, malformed and oversize bearer tokens as unauthorized', async () => {
    assertError(await request(usersApp, 'GET', '/api/me'), 401, 'unauthorized');
    assertError(
      await request(usersApp, 'GET', '/api/me', {
        headers: { authorization: `Basic ${btoa('a:b')}` },
      }),
      401,
      'unauthorized',
    );
    assertError(
      await request(usersApp, 'GET', '/api/me', { headers: { authorization: 'Bearer' } }),
      401,
      'unauthorized',
    );
    assertError(await me('not.a.jwt'), 401, 'unauthorized');
    assertError(await me('x'.repeat(5000)), 401, 'unauthorized');
  });
});
