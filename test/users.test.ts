import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import { generateKeyPair, SignJWT } from 'jose';
import { createUsersApp } from '../functions/users/app.ts';
import { SIGNING_ALGORITHM } from '../shared/auth/keys.ts';
import type { ErrorCode } from '../shared/errors.ts';
import type { ApiEnv } from '../shared/http/app.ts';
import { MAX_JSON_BODY_BYTES } from '../shared/http/validate.ts';
import { channels } from '../shared/ports/index.ts';
import type { Services } from '../shared/services.ts';
import type { OwnUser, PublicUser } from '../shared/social/types.ts';
import { createTestServices, registerUser, type TestUser } from './support/services.ts';
import { assertError, type Reply as FullReply } from './support/api.ts';

type Reply = Pick<FullReply, 'status' | 'body'>;

let services: Services;
let app: Hono<ApiEnv>;
let closeServices: () => Promise<void>;
let userCount = 0;
/** Every user-channel payload published, by user id. */
const published = new Map<string, string[]>();

/** Unique usernames, so tests never see each other's users (they share one database). */
async function newUser(label: string): Promise<TestUser> {
  userCount += 1;
  const user = await registerUser(services, `${label}_${userCount}_${randomTag()}`);
  await services.platform.pubsub.subscribe(channels.user(user.userId));
  return user;
}

function randomTag(): string {
  return Math.random().toString(36).slice(2, 8);
}

async function call(
  method: string,
  path: string,
  options: {
    as?: TestUser;
    token?: string;
    json?: unknown;
    raw?: BodyInit;
    headers?: Record<string, string>;
  } = {},
): Promise<Reply> {
  const headers = new Headers(options.headers);
  const token = options.token ?? options.as?.accessToken;
  if (token !== undefined) {
    headers.set('authorization', `Bearer ${token}`);
  }
  let body: BodyInit | undefined = options.raw;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
  }
  if (body !== undefined) {
    headers.set('content-type', 'application/json');
  }
  const response = await app.request(path, { method, headers, body });
  const text = await response.text();
  return {
    status: response.status,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

function ids(users: unknown): string[] {
  return (users as PublicUser[]).map((user) => user.id);
}

async function settle(): Promise<void> {
  // The memory pub/sub delivers on a later macrotask.
  await new Promise((resolve) => setTimeout(resolve, 20));
}

function contactsChangedCount(userId: string): number {
  return (published.get(userId) ?? []).filter((payload) => payload === '{"t":"contacts_changed"}')
    .length;
}

const NOWHERE = '00000000-0000-7000-8000-000000000000';

before(async () => {
  const built = await createTestServices();
  services = built.services;
  closeServices = built.close;
  app = createUsersApp(services);
  services.platform.pubsub.onMessage((channel, payload) => {
    const userId = channel.slice('user:'.length);
    published.set(userId, [...(published.get(userId) ?? []), payload]);
  });
});

after(async () => {
  await closeServices();
});

describe('authentication', () => {
  const routes: Array<[string, string]> = [
    ['GET', '/api/me'],
    ['PATCH', '/api/me'],
    ['GET', `/api/users/${NOWHERE}`],
    ['GET', '/api/users?prefix=a'],
    ['GET', '/api/me/friends'],
    ['GET', '/api/me/friend-requests'],
    ['POST', '/api/me/friend-requests'],
    ['POST', `/api/me/friend-requests/${NOWHERE}/accept`],
    ['POST', `/api/me/friend-requests/${NOWHERE}/decline`],
    ['DELETE', `/api/me/friend-requests/${NOWHERE}`],
    ['DELETE', `/api/me/friends/${NOWHERE}`],
    ['GET', '/api/me/blocks'],
    ['PUT', `/api/me/blocks/${NOWHERE}`],
    ['DELETE', `/api/me/blocks/${NOWHERE}`],
    ['GET', '/api/me/contacts'],
  ];

  it('refuses every route without a token', async () => {
    for (const [method, path] of routes) {
      assertError(await call(method, path), 401, 'unauthorized');
    }
  });

  it('refuses a non-bearer header and a malformed token', async () => {
    assertError(
      await call('GET', '/api/me', { headers: { authorization: 'Basic abc' } }),
      401,
      'unauthorized',
    );
    assertError(await call('GET', '/api/me', { token: 'not.a.jwt' }), 401, 'unauthorized');
  });

  it('refuses a token signed with another key', async () => {
    const user = await newUser('forged');
    const { privateKey } = await generateKeyPair(SIGNING_ALGORITHM);
    const forged = await new SignJWT({ sid: user.userId })
      .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: services.keys.kid, typ: 'at+jwt' })
      .setIssuer(services.config.issuer)
      .setAudience(services.config.audience)
      .setSubject(user.userId)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    assertError(await call('GET', '/api/me', { token: forged }), 401, 'unauthorized');
  });

  it('answers token_expired for an expired token and token_revoked after logout', async () => {
    const user = await newUser('expired');
    const { sessionId } = await services.sessions.start(user.userId);
    const nowSeconds = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ sid: sessionId })
      .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: services.keys.kid, typ: 'at+jwt' })
      .setIssuer(services.config.issuer)
      .setAudience(services.config.audience)
      .setSubject(user.userId)
      .setIssuedAt(nowSeconds - 120)
      .setExpirationTime(nowSeconds - 60)
      .sign(services.keys.privateKey);
    assertError(await call('GET', '/api/me', { token: expired }), 401, 'token_expired');

    await services.sessions.revoke(user.refreshToken);
    assertError(await call('GET', '/api/me', { as: user }), 401, 'token_revoked');
  });

  it('answers not_found for unknown routes', async () => {
    const user = await newUser('routes');
    assertError(await call('GET', '/api/me/nothing-here', { as: user }), 404, 'not_found');
  });
});

describe('GET and PATCH /api/me', () => {
  it('returns the own profile', async () => {
    const user = await newUser('me');
    const reply = await call('GET', '/api/me', { as: user });
    assert.equal(reply.status, 200);
    const me = reply.body.user as OwnUser;
    assert.equal(me.id, user.userId);
    assert.equal(me.username, user.username);
    assert.equal(me.displayName, user.username);
    assert.equal(me.statusText, '');
    assert.equal(me.avatarUrl, null);
    assert.equal(me.online, false);
    assert.equal(me.lastSeenAt, null);
    assert.equal(me.showLastSeen, true);
    assert.ok(!Number.isNaN(Date.parse(me.createdAt)));
    assert.deepEqual(Object.keys(me).sort(), [
      'avatarUrl',
      'createdAt',
      'displayName',
      'id',
      'lastSeenAt',
      'online',
      'showLastSeen',
      'statusText',
      'username',
    ]);
  });

  it('updates the profile, and others see the change at once (cache invalidated)', async () => {
    const user = await newUser('patch');
    const viewer = await newUser('viewer');
    const before = await call('GET', `/api/users/${user.userId}`, { as: viewer });
    assert.equal((before.body.user as PublicUser).displayName, user.username);

    const status = '🙂'.repeat(140);
    const reply = await call('PATCH', '/api/me', {
      as: user,
      json: {
        displayName: '  Ada Lovelace  ',
        statusText: status,
        avatarUrl: 'https://cdn.example.com/a.png',
        showLastSeen: false,
      },
    });
    assert.equal(reply.status, 200);
    const me = reply.body.user as OwnUser;
    assert.equal(me.displayName, 'Ada Lovelace');
    assert.equal(me.statusText, status);
    assert.equal(me.avatarUrl, 'https://cdn.example.com/a.png');
    assert.equal(me.showLastSeen, false);

    const seen = (await call('GET', `/api/users/${user.userId}`, { as: viewer })).body
      .user as PublicUser;
    assert.equal(seen.displayName, 'Ada Lovelace');
    assert.equal(seen.avatarUrl, 'https://cdn.example.com/a.png');
    assert.equal('showLastSeen' in seen, false);

    const partial = await call('PATCH', '/api/me', {
      as: user,
      json: { avatarUrl: 'http://localhost:5173/me.png' },
    });
    assert.equal((partial.body.user as OwnUser).displayName, 'Ada Lovelace');
    assert.equal((partial.body.user as OwnUser).avatarUrl, 'http://localhost:5173/me.png');

    const cleared = await call('PATCH', '/api/me', {
      as: user,
      json: { avatarUrl: null, statusText: '' },
    });
    assert.equal((cleared.body.user as OwnUser).avatarUrl, null);
    assert.equal((cleared.body.user as OwnUser).statusText, '');

    const empty = await call('PATCH', '/api/me', { as: user, json: {} });
    assert.equal(empty.status, 200);
    assert.equal((empty.body.user as OwnUser).displayName, 'Ada Lovelace');
  });

  it('refuses malformed JSON and bodies that are not UTF-8', async () => {
    const user = await newUser('badjson');
    assertError(
      await call('PATCH', '/api/me', { as: user, raw: '{"displayName":' }),
      400,
      'invalid_json',
    );
    assertError(await call('PATCH', '/api/me', { as: user, raw: '' }), 400, 'invalid_json');
    const notUtf8 = new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x7d]);
    assertError(await call('PATCH', '/api/me', { as: user, raw: notUtf8 }), 400, 'invalid_json');
  });

  it('refuses wrong shapes and types', async () => {
    const user = await newUser('badshape');
    const bad: unknown[] = [
      [],
      null,
      'name',
      { displayName: 42 },
      { displayName: '   ' },
      { displayName: 'x'.repeat(65) },
      { displayName: 'a\u0000b' },
      { statusText: '🙂'.repeat(141) },
      { statusText: 7 },
      { statusText: 'line\nbreak' },
      { statusText: '\u200b\u200b' },
      { displayName: '\u2800' },
      { displayName: '\u0301\u0301' },
      { avatarUrl: 'http://example.com/a.png' },
      { avatarUrl: 'javascript:alert(1)' },
      { avatarUrl: 'ftp://example.com/a.png' },
      { avatarUrl: 'not a url' },
      { avatarUrl: 'https://user:pass@example.com/a.png' },
      { avatarUrl: `https://example.com/${'a'.repeat(2048)}` },
      { avatarUrl: 5 },
      { showLastSeen: 'yes' },
      { displayname: 'typo' },
    ];
    for (const json of bad) {
      const reply = await call('PATCH', '/api/me', { as: user, json });
      assert.equal(
        (reply.body.error as { code?: unknown } | undefined)?.code,
        'validation_failed',
        JSON.stringify(json),
      );
      assert.equal(reply.status, 400);
    }
    const me = (await call('GET', '/api/me', { as: user })).body.user as OwnUser;
    assert.equal(me.displayName, user.username);
  });

  it('refuses lone surrogates in displayName and statusText', async () => {
    const user = await newUser('surrogate');
    for (const raw of [
      '{"displayName":"abc\\ud800"}',
      '{"displayName":"\\udc00abc"}',
      '{"statusText":"\\ud83d"}',
    ]) {
      assertError(await call('PATCH', '/api/me', { as: user, raw }), 400, 'validation_failed');
    }
    const ok = await call('PATCH', '/api/me', {
      as: user,
      raw: '{"displayName":"\\ud83d\\ude42 ok"}',
    });
    assert.equal((ok.body.user as OwnUser).displayName, '🙂 ok');
  });

  it('refuses bodies over 64 KiB, declared or not', async () => {
    const user = await newUser('big');
    const big = JSON.stringify({ statusText: 'x'.repeat(MAX_JSON_BODY_BYTES) });
    assertError(await call('PATCH', '/api/me', { as: user, raw: big }), 413, 'payload_too_large');
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    const response = await app.request('/api/me', {
      method: 'PATCH',
      headers: { authorization: `Bearer ${user.accessToken}`, 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    assertError(
      { status: response.status, body: (await response.json()) as Record<string, unknown> },
      413,
      'payload_too_large',
    );
    const declared = await call('PATCH', '/api/me', {
      as: user,
      raw: '{}',
      headers: { 'content-length': String(MAX_JSON_BODY_BYTES + 1) },
    });
    assertError(declared, 413, 'payload_too_large');
  });
});

describe('GET /api/users/:id', () => {
  it('returns a public profile with presence and last-seen', async () => {
    const viewer = await newUser('look');
    const target = await newUser('seen');
    const first = await call('GET', `/api/users/${target.userId}`, { as: viewer });
    assert.equal(first.status, 200);
    assert.deepEqual(first.body.user, {
      id: target.userId,
      username: target.username,
      displayName: target.username,
      statusText: '',
      avatarUrl: null,
      online: false,
      lastSeenAt: null,
    });

    // Presence is for contacts only: a stranger sees neither online nor last seen, and opening
    // a DM does not change that; the target writing in it does.
    await services.platform.presence.connect(target.userId, 'conn-1', 'node-1');
    const stranger = (await call('GET', `/api/users/${target.userId}`, { as: viewer })).body
      .user as PublicUser;
    assert.equal(stranger.online, false);
    const dm = await services.rooms.openDm(viewer.userId, target.userId);
    const silent = (await call('GET', `/api/users/${target.userId}`, { as: viewer })).body
      .user as PublicUser;
    assert.equal(silent.online, false);
    await services.messaging.send(target.userId, dm.id, 'hi-viewer', 'hi');
    await services.rooms.markSent(dm.id, target.userId, 1);
    const online = (await call('GET', `/api/users/${target.userId}`, { as: viewer })).body
      .user as PublicUser;
    assert.equal(online.online, true);
    assert.equal(online.lastSeenAt, null);

    await services.platform.presence.disconnect(target.userId, 'conn-1');
    const at = new Date('2030-01-02T03:04:05.678Z');
    assert.equal(await services.social.recordLastSeen(target.userId, at), at.toISOString());
    const offline = (await call('GET', `/api/users/${target.userId}`, { as: viewer })).body
      .user as PublicUser;
    assert.equal(offline.online, false);
    assert.equal(offline.lastSeenAt, at.toISOString());

    await call('PATCH', '/api/me', { as: target, json: { showLastSeen: false } });
    const hidden = (await call('GET', `/api/users/${target.userId}`, { as: viewer })).body
      .user as PublicUser;
    assert.equal(hidden.lastSeenAt, null);
    assert.equal(await services.social.recordLastSeen(target.userId, new Date()), null);
  });

  it('refuses non-UUID ids and answers not_found for unknown users', async () => {
    const viewer = await newUser('lookbad');
    for (const id of ['nope', '123', `${NOWHERE}x`, 'ABCDEF00-0000-7000-8000-000000000000']) {
      assertError(await call('GET', `/api/users/${id}`, { as: viewer }), 400, 'validation_failed');
    }
    assertError(await call('GET', `/api/users/${NOWHERE}`, { as: viewer }), 404, 'not_found');
  });
});

describe('GET /api/users (search)', () => {
  it('finds users by case-insensitive username prefix, within the limit', async () => {
    const viewer = await newUser('searcher');
    const tag = randomTag();
    const names = [`Zq${tag}_alpha`, `zq${tag}_beta`, `zq${tag}_gamma`];
    for (const username of names) {
      await services.accounts.register({ username, password: 'correct horse battery' });
    }
    const all = await call('GET', `/api/users?prefix=ZQ${tag}`, { as: viewer });
    assert.equal(all.status, 200);
    assert.deepEqual(
      (all.body.users as PublicUser[]).map((user) => user.username),
      names,
    );
    const two = await call('GET', `/api/users?prefix=zq${tag}&limit=2`, { as: viewer });
    assert.equal((two.body.users as PublicUser[]).length, 2);
    const one = await call('GET', `/api/users?prefix=zq${tag}_b`, { as: viewer });
    assert.deepEqual(
      (one.body.users as PublicUser[]).map((user) => user.username),
      [`zq${tag}_beta`],
    );
    const self = await call('GET', `/api/users?prefix=${viewer.username}`, { as: viewer });
    assert.equal(self.status, 200);
    assert.deepEqual(self.body.users, [], 'the viewer does not find themselves');
  });

  it('treats %, _ and \\ in the prefix literally', async () => {
    const viewer = await newUser('escaper');
    const tag = randomTag();
    await services.accounts.register({
      username: `esc${tag}xy`,
      password: 'correct horse battery',
    });
    await services.accounts.register({
      username: `esc${tag}_y`,
      password: 'correct horse battery',
    });
    const underscore = await call('GET', `/api/users?prefix=${encodeURIComponent(`esc${tag}_`)}`, {
      as: viewer,
    });
    assert.deepEqual(
      (underscore.body.users as PublicUser[]).map((user) => user.username),
      [`esc${tag}_y`],
    );
    for (const prefix of ['%', `esc${tag}%`, '\\', `esc${tag}\\`]) {
      const reply = await call('GET', `/api/users?prefix=${encodeURIComponent(prefix)}`, {
        as: viewer,
      });
      assert.equal(reply.status, 200);
      assert.deepEqual(reply.body.users, [], prefix);
    }
  });

  it('refuses bad prefixes and limits', async () => {
    const viewer = await newUser('searchbad');
    for (const query of [
      '',
      'prefix=',
      `prefix=${'a'.repeat(33)}`,
      'prefix=a&limit=0',
      'prefix=a&limit=51',
      'prefix=a&limit=abc',
      'prefix=a&limit=1.5',
      'prefix=a&limit=-1',
      'prefix=a&limit=',
      'prefix=%00',
    ]) {
      assertError(
        await call('GET', `/api/users?${query}`, { as: viewer }),
        400,
        'validation_failed',
      );
    }
    const edge = await call('GET', `/api/users?prefix=${'a'.repeat(32)}&limit=50`, { as: viewer });
    assert.equal(edge.status, 200);
  });
});

describe('friendship lifecycle', () => {
  it('requests, lists, accepts, lists friends on both sides, removes', async () => {
    const ann = await newUser('ann');
    const bob = await newUser('bob');

    const requested = await call('POST', '/api/me/friend-requests', {
      as: ann,
      json: { userId: bob.userId },
    });
    assert.equal(requested.status, 201);
    assert.deepEqual(requested.body, { status: 'pending' });

    const again = await call('POST', '/api/me/friend-requests', {
      as: ann,
      json: { userId: bob.userId },
    });
    assert.equal(again.status, 201);
    assert.deepEqual(again.body, { status: 'pending' });

    const annRequests = await call('GET', '/api/me/friend-requests', { as: ann });
    assert.deepEqual(ids(annRequests.body.incoming), []);
    assert.deepEqual(ids(annRequests.body.outgoing), [bob.userId]);
    const bobRequests = await call('GET', '/api/me/friend-requests', { as: bob });
    assert.deepEqual(ids(bobRequests.body.incoming), [ann.userId]);
    assert.deepEqual(ids(bobRequests.body.outgoing), []);

    const accepted = await call('POST', `/api/me/friend-requests/${ann.userId}/accept`, {
      as: bob,
    });
    assert.equal(accepted.status, 200);
    assert.deepEqual(accepted.body, { status: 'friends' });

    assert.deepEqual(ids((await call('GET', '/api/me/friends', { as: ann })).body.friends), [
      bob.userId,
    ]);
    assert.deepEqual(ids((await call('GET', '/api/me/friends', { as: bob })).body.friends), [
      ann.userId,
    ]);
    const after = await call('GET', '/api/me/friend-requests', { as: bob });
    assert.deepEqual(after.body, { incoming: [], outgoing: [] });

    assertError(
      await call('POST', '/api/me/friend-requests', { as: bob, json: { userId: ann.userId } }),
      409,
      'already_friends',
    );
    assertError(
      await call('POST', `/api/me/friend-requests/${ann.userId}/accept`, { as: bob }),
      404,
      'not_found',
    );

    const removed = await call('DELETE', `/api/me/friends/${ann.userId}`, { as: bob });
    assert.equal(removed.status, 200);
    assert.deepEqual(removed.body, { ok: true });
    assert.deepEqual((await call('GET', '/api/me/friends', { as: ann })).body.friends, []);
    assert.deepEqual((await call('GET', '/api/me/friends', { as: bob })).body.friends, []);
    assertError(
      await call('DELETE', `/api/me/friends/${ann.userId}`, { as: bob }),
      404,
      'not_found',
    );
  });

  it('friends list carries presence', async () => {
    const ann = await newUser('annp');
    const bob = await newUser('bobp');
    await call('POST', '/api/me/friend-requests', { as: ann, json: { userId: bob.userId } });
    await call('POST', `/api/me/friend-requests/${ann.userId}/accept`, { as: bob });
    await services.platform.presence.connect(bob.userId, 'conn-p', 'node-1');
    const friends = (await call('GET', '/api/me/friends', { as: ann })).body
      .friends as PublicUser[];
    assert.equal(friends[0]?.online, true);
    await services.platform.presence.disconnect(bob.userId, 'conn-p');
  });

  it('a reverse request makes friends at once', async () => {
    const ann = await newUser('annr');
    const bob = await newUser('bobr');
    await call('POST', '/api/me/friend-requests', { as: ann, json: { userId: bob.userId } });
    const reverse = await call('POST', '/api/me/friend-requests', {
      as: bob,
      json: { userId: ann.userId },
    });
    assert.equal(reverse.status, 200);
    assert.deepEqual(reverse.body, { status: 'friends' });
    assert.deepEqual(ids((await call('GET', '/api/me/friends', { as: ann })).body.friends), [
      bob.userId,
    ]);
    assert.deepEqual((await call('GET', '/api/me/friend-requests', { as: ann })).body, {
      incoming: [],
      outgoing: [],
    });
  });

  it('crossing requests end as one friendship, never two pending requests', async () => {
    const ann = await newUser('annx');
    const bob = await newUser('bobx');
    const replies = await Promise.all([
      call('POST', '/api/me/friend-requests', { as: ann, json: { userId: bob.userId } }),
      call('POST', '/api/me/friend-requests', { as: bob, json: { userId: ann.userId } }),
    ]);
    assert.deepEqual(replies.map((reply) => reply.body.status).sort(), ['friends', 'pending']);
    assert.deepEqual(ids((await call('GET', '/api/me/friends', { as: ann })).body.friends), [
      bob.userId,
    ]);
    assert.deepEqual((await call('GET', '/api/me/friend-requests', { as: bob })).body, {
      incoming: [],
      outgoing: [],
    });
  });

  it('declines and cancels requests', async () => {
    const ann = await newUser('annd');
    const bob = await newUser('bobd');
    await call('POST', '/api/me/friend-requests', { as: ann, json: { userId: bob.userId } });
    const declined = await call('POST', `/api/me/friend-requests/${ann.userId}/decline`, {
      as: bob,
    });
    assert.equal(declined.status, 200);
    assert.deepEqual(declined.body, { ok: true });
    assert.deepEqual((await call('GET', '/api/me/friend-requests', { as: ann })).body, {
      incoming: [],
      outgoing: [],
    });
    assertError(
      await call('POST', `/api/me/friend-requests/${ann.userId}/decline`, { as: bob }),
      404,
      'not_found',
    );

    await call('POST', '/api/me/friend-requests', { as: ann, json: { userId: bob.userId } });
    // Only the recipient may decline, only the sender may cancel.
    assertError(
      await call('POST', `/api/me/friend-requests/${bob.userId}/decline`, { as: ann }),
      404,
      'not_found',
    );
    assertError(
      await call('DELETE', `/api/me/friend-requests/${ann.userId}`, { as: bob }),
      404,
      'not_found',
    );
    const cancelled = await call('DELETE', `/api/me/friend-requests/${bob.userId}`, { as: ann });
    assert.equal(cancelled.status, 200);
    assert.deepEqual(cancelled.body, { ok: true });
    assert.deepEqual((await call('GET', '/api/me/friend-requests', { as: bob })).body, {
      incoming: [],
      outgoing: [],
    });
    assertError(
      await call('DELETE', `/api/me/friend-requests/${bob.userId}`, { as: ann }),
      404,
      'not_found',
    );
  });

  it('refuses bad friend requests', async () => {
    const ann = await newUser('annbad');
    const path = '/api/me/friend-requests';
    assertError(await call('POST', path, { as: ann, raw: '{"userId":' }), 400, 'invalid_json');
    for (const json of [{}, { userId: 5 }, { userId: 'abc' }, { userId: null }, [], 'x']) {
      assertError(await call('POST', path, { as: ann, json }), 400, 'validation_failed');
    }
    assertError(
      await call('POST', path, { as: ann, json: { userId: ann.userId } }),
      400,
      'validation_failed',
    );
    assertError(await call('POST', path, { as: ann, json: { userId: NOWHERE } }), 404, 'not_found');
    assertError(
      await call('POST', path, {
        as: ann,
        raw: JSON.stringify({ userId: 'x'.repeat(MAX_JSON_BODY_BYTES) }),
      }),
      413,
      'payload_too_large',
    );
  });

  it('refuses non-UUID ids and unknown users on every :userId route', async () => {
    const ann = await newUser('annids');
    const byId = (id: string): Array<[string, string]> => [
      ['POST', `/api/me/friend-requests/${id}/accept`],
      ['POST', `/api/me/friend-requests/${id}/decline`],
      ['DELETE', `/api/me/friend-requests/${id}`],
      ['DELETE', `/api/me/friends/${id}`],
      ['PUT', `/api/me/blocks/${id}`],
      ['DELETE', `/api/me/blocks/${id}`],
    ];
    for (const [method, path] of byId('not-a-uuid')) {
      assertError(await call(method, path, { as: ann }), 400, 'validation_failed');
    }
    for (const [method, path] of byId(NOWHERE)) {
      assertError(await call(method, path, { as: ann }), 404, 'not_found');
    }
  });

  it('tells both users that their contacts changed', async () => {
    const ann = await newUser('annev');
    const bob = await newUser('bobev');
    await call('POST', '/api/me/friend-requests', { as: ann, json: { userId: bob.userId } });
    await settle();
    assert.equal(contactsChangedCount(ann.userId), 1);
    assert.equal(contactsChangedCount(bob.userId), 1);
    // A repeated request changes nothing and says nothing.
    await call('POST', '/api/me/friend-requests', { as: ann, json: { userId: bob.userId } });
    await call('POST', `/api/me/friend-requests/${ann.userId}/accept`, { as: bob });
    await call('DELETE', `/api/me/friends/${bob.userId}`, { as: ann });
    await call('PUT', `/api/me/blocks/${bob.userId}`, { as: ann });
    await call('DELETE', `/api/me/blocks/${bob.userId}`, { as: ann });
    await settle();
    assert.equal(contactsChangedCount(ann.userId), 5);
    assert.equal(contactsChangedCount(bob.userId), 5);
  });
});

describe('blocks', () => {
  it('ends friendship and requests both ways, lists the block, and is idempotent', async () => {
    const ann = await newUser('annb');
    const bob = await newUser('bobb');
    const cat = await newUser('catb');
    await call('POST', '/api/me/friend-requests', { as: ann, json: { userId: bob.userId } });
    await call('POST', `/api/me/friend-requests/${ann.userId}/accept`, { as: bob });
    await call('POST', '/api/me/friend-requests', { as: cat, json: { userId: ann.userId } });

    const blocked = await call('PUT', `/api/me/blocks/${bob.userId}`, { as: ann });
    assert.equal(blocked.status, 200);
    assert.deepEqual(blocked.body, { ok: true });
    assert.equal((await call('PUT', `/api/me/blocks/${bob.userId}`, { as: ann })).status, 200);
    await call('PUT', `/api/me/blocks/${cat.userId}`, { as: ann });

    assert.deepEqual((await call('GET', '/api/me/friends', { as: ann })).body.friends, []);
    assert.deepEqual((await call('GET', '/api/me/friends', { as: bob })).body.friends, []);
    assert.deepEqual((await call('GET', '/api/me/friend-requests', { as: ann })).body, {
      incoming: [],
      outgoing: [],
    });
    assert.deepEqual((await call('GET', '/api/me/friend-requests', { as: cat })).body, {
      incoming: [],
      outgoing: [],
    });
    const list = await call('GET', '/api/me/blocks', { as: ann });
    assert.deepEqual(ids(list.body.users).sort(), [bob.userId, cat.userId].sort());
    assert.deepEqual((await call('GET', '/api/me/blocks', { as: bob })).body.users, []);

    // Neither side can ask the other while the block stands.
    assertError(
      await call('POST', '/api/me/friend-requests', { as: bob, json: { userId: ann.userId } }),
      403,
      'blocked',
    );
    assertError(
      await call('POST', '/api/me/friend-requests', { as: ann, json: { userId: bob.userId } }),
      403,
      'blocked',
    );

    const unblocked = await call('DELETE', `/api/me/blocks/${bob.userId}`, { as: ann });
    assert.deepEqual(unblocked.body, { ok: true });
    assert.equal((await call('DELETE', `/api/me/blocks/${bob.userId}`, { as: ann })).status, 200);
    assert.deepEqual(ids((await call('GET', '/api/me/blocks', { as: ann })).body.users), [
      cat.userId,
    ]);
    const friendsAgain = await call('POST', '/api/me/friend-requests', {
      as: bob,
      json: { userId: ann.userId },
    });
    assert.deepEqual(friendsAgain.body, { status: 'pending' });
  });

  it('hides the blocker from the blocked user: search and presence', async () => {
    const tag = randomTag();
    const blocker = await registerUser(services, `hid${tag}_blocker`);
    const victim = await newUser(`hid${tag}`);

    const visible = await call('GET', `/api/users?prefix=hid${tag}`, { as: victim });
    assert.ok(ids(visible.body.users).includes(blocker.userId));

    await call('PUT', `/api/me/blocks/${victim.userId}`, { as: blocker });
    await services.platform.presence.connect(blocker.userId, 'conn-b', 'node-1');
    await services.platform.presence.connect(victim.userId, 'conn-v', 'node-1');

    const hidden = await call('GET', `/api/users?prefix=hid${tag}`, { as: victim });
    assert.ok(!ids(hidden.body.users).includes(blocker.userId));
    // The blocker still finds the blocked user, without presence.
    const fromBlocker = (await call('GET', `/api/users?prefix=hid${tag}`, { as: blocker })).body
      .users as PublicUser[];
    const victimSeen = fromBlocker.find((user) => user.id === victim.userId);
    assert.equal(victimSeen?.online, false);

    const profile = (await call('GET', `/api/users/${blocker.userId}`, { as: victim })).body
      .user as PublicUser;
    assert.equal(profile.online, false);
    assert.equal(profile.lastSeenAt, null);
    const blocks = (await call('GET', '/api/me/blocks', { as: blocker })).body
      .users as PublicUser[];
    assert.equal(blocks[0]?.online, false);

    await services.platform.presence.disconnect(blocker.userId, 'conn-b');
    await services.platform.presence.disconnect(victim.userId, 'conn-v');
  });

  it('refuses blocking or unblocking yourself', async () => {
    const ann = await newUser('annself');
    assertError(
      await call('PUT', `/api/me/blocks/${ann.userId}`, { as: ann }),
      400,
      'validation_failed',
    );
    assertError(
      await call('DELETE', `/api/me/blocks/${ann.userId}`, { as: ann }),
      400,
      'validation_failed',
    );
  });
});

describe('contacts and presence audience', () => {
  it('lists friends plus DM partners, minus anyone blocked either way', async () => {
    const ann = await newUser('annc');
    const friend = await newUser('friendc');
    const partner = await newUser('partnerc');
    const blocker = await newUser('blockerc');
    const stranger = await newUser('strangerc');
    await call('POST', '/api/me/friend-requests', { as: ann, json: { userId: friend.userId } });
    await call('POST', `/api/me/friend-requests/${ann.userId}/accept`, { as: friend });
    await services.rooms.openDm(ann.userId, partner.userId);
    await services.rooms.openDm(blocker.userId, ann.userId);

    const before = await call('GET', '/api/me/contacts', { as: ann });
    assert.equal(before.status, 200);
    assert.deepEqual(
      ids(before.body.contacts).sort(),
      [friend.userId, partner.userId, blocker.userId].sort(),
    );
    assert.ok(!ids(before.body.contacts).includes(stranger.userId));
    assert.deepEqual(ids((await call('GET', '/api/me/contacts', { as: partner })).body.contacts), [
      ann.userId,
    ]);

    await call('PUT', `/api/me/blocks/${ann.userId}`, { as: blocker });
    const afterBlock = await call('GET', '/api/me/contacts', { as: ann });
    assert.deepEqual(ids(afterBlock.body.contacts).sort(), [friend.userId, partner.userId].sort());
    assert.deepEqual((await call('GET', '/api/me/contacts', { as: blocker })).body.contacts, []);

    // An open but silent DM shares no presence; writing in it does, from the writer's side.
    assert.deepEqual(await services.social.presenceAudience(ann.userId), [friend.userId]);
    const dm = await services.rooms.openDm(ann.userId, partner.userId);
    await services.messaging.send(ann.userId, dm.id, 'hello-partner', 'hello');
    await services.rooms.markSent(dm.id, ann.userId, 1);
    assert.deepEqual(
      (await services.social.presenceAudience(ann.userId)).sort(),
      [friend.userId, partner.userId].sort(),
    );
    assert.deepEqual(await services.social.presenceVisibleTo(partner.userId), [ann.userId]);
    assert.deepEqual(await services.social.presenceVisibleTo(ann.userId), [friend.userId]);
    assert.deepEqual(await services.social.presenceAudience(blocker.userId), []);
    assert.deepEqual(await services.social.presenceAudience(stranger.userId), []);

    // Both sides come from one read; a friend who is also a DM partner is listed once.
    const friendDm = await services.rooms.openDm(friend.userId, ann.userId);
    await services.messaging.send(friend.userId, friendDm.id, 'hello-ann', 'hi');
    await services.rooms.markSent(friendDm.id, friend.userId, 1);
    assert.deepEqual(await services.social.presenceCircle(ann.userId), {
      audience: [friend.userId, partner.userId].sort(),
      visibleTo: [friend.userId],
    });
    await services.messaging.send(partner.userId, dm.id, 'hello-ann-back', 'hi');
    await services.rooms.markSent(dm.id, partner.userId, 2);
    assert.deepEqual(await services.social.presenceCircle(ann.userId), {
      audience: [friend.userId, partner.userId].sort(),
      visibleTo: [friend.userId, partner.userId].sort(),
    });
  });
});

describe('Social service guards (independent of the HTTP edge)', () => {
  it('validates search, patches and targets itself', async () => {
    const ann = await newUser('anng');
    const code = (error: unknown) => (error as { code?: unknown }).code;
    const refused = async (work: Promise<unknown>, expected: ErrorCode) => {
      await assert.rejects(work, (error) => code(error) === expected);
    };
    await refused(services.social.search(ann.userId, 'a', 0), 'validation_failed');
    await refused(services.social.search(ann.userId, 'a', 51), 'validation_failed');
    await refused(services.social.search(ann.userId, '', 10), 'validation_failed');
    await refused(
      services.social.updateMe(ann.userId, { avatarUrl: 'http://example.com/x.png' }),
      'validation_failed',
    );
    await refused(
      services.social.updateMe(ann.userId, { displayName: '\ud800' }),
      'validation_failed',
    );
    await refused(services.social.requestFriend(ann.userId, ann.userId), 'validation_failed');
    await refused(services.social.requestFriend(ann.userId, 'nope'), 'validation_failed');
    await refused(services.social.block(ann.userId, NOWHERE), 'not_found');
    await refused(services.social.user(ann.userId, 'nope'), 'not_found');
    await refused(services.social.recordLastSeen(NOWHERE, new Date()), 'not_found');
  });
});
