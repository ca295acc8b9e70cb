import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import { createChatApp } from '../functions/chat/app.ts';
import type { ApiEnv } from '../shared/http/app.ts';
import { isId } from '../shared/ids.ts';
import type { ChatMessage } from '../shared/ports/index.ts';
import type { RoomView } from '../shared/rooms/rooms.ts';
import type { Services } from '../shared/services.ts';
import { bearer, createTestServices, registerUser, type TestUser } from './support/services.ts';
import { assertError, type Reply } from './support/api.ts';

let services: Services;
let closeServices: () => Promise<void>;
let app: Hono<ApiEnv>;

/** A valid id that no room or user has. */
const NOWHERE = '00000000-0000-7000-8000-000000000000';

let userCount = 0;

/** Unique usernames: the tests share one database. */
async function newUser(label: string): Promise<TestUser> {
  userCount += 1;
  return registerUser(services, `${label}_${userCount}_${Math.random().toString(36).slice(2, 7)}`);
}

async function call(
  method: string,
  path: string,
  options: { as?: TestUser; token?: string; json?: unknown; raw?: BodyInit } = {},
): Promise<Reply> {
  const headers = new Headers();
  const token = options.token ?? options.as?.accessToken;
  if (token !== undefined) {
    headers.set('authorization', `Bearer ${token}`);
  }
  const body = options.json !== undefined ? JSON.stringify(options.json) : options.raw;
  if (body !== undefined) {
    headers.set('content-type', 'application/json');
  }
  const response = await app.request(path, { method, headers, body });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

function roomOf(reply: Reply, status = 200): RoomView {
  assert.equal(reply.status, status, JSON.stringify(reply.body));
  return reply.body.room as RoomView;
}

async function createGroup(owner: TestUser, name: string, members: TestUser[]): Promise<RoomView> {
  const reply = await call('POST', '/api/rooms', {
    as: owner,
    json: { name, memberIds: members.map((member) => member.userId) },
  });
  return roomOf(reply, 201);
}

async function openDm(user: TestUser, peer: TestUser): Promise<RoomView> {
  return roomOf(await call('POST', '/api/dms', { as: user, json: { userId: peer.userId } }));
}

async function viewRoom(user: TestUser, roomId: string): Promise<RoomView> {
  return roomOf(await call('GET', `/api/rooms/${roomId}`, { as: user }));
}

async function listRooms(user: TestUser): Promise<RoomView[]> {
  const reply = await call('GET', '/api/rooms', { as: user });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  return reply.body.rooms as RoomView[];
}

function send(user: TestUser, roomId: string, clientMsgId: string, body: string): Promise<Reply> {
  return call('POST', `/api/rooms/${roomId}/messages`, { as: user, json: { clientMsgId, body } });
}

let msgCount = 0;

async function sendOk(
  user: TestUser,
  roomId: string,
  body = `hello ${msgCount}`,
): Promise<ChatMessage> {
  msgCount += 1;
  const reply = await send(user, roomId, `m-${msgCount}`, body);
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
  return (reply.body as { message: ChatMessage }).message;
}

interface Page {
  messages: ChatMessage[];
  hasMore: boolean;
}

async function history(user: TestUser, roomId: string, query = ''): Promise<Page> {
  const reply = await call('GET', `/api/rooms/${roomId}/messages${query ? `?${query}` : ''}`, {
    as: user,
  });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  assert.deepEqual(Object.keys(reply.body).sort(), ['hasMore', 'messages']);
  const page = reply.body as unknown as Page;
  const seqs = page.messages.map((message) => message.seq);
  assert.deepEqual(
    seqs,
    [...seqs].sort((a, b) => a - b),
    'pages are ascending by seq',
  );
  return page;
}

function seqs(page: Page): number[] {
  return page.messages.map((message) => message.seq);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function markRead(user: TestUser, roomId: string, seq: unknown): Promise<Reply> {
  return call('POST', `/api/rooms/${roomId}/read`, { as: user, json: { seq } });
}

before(async () => {
  const built = await createTestServices();
  services = built.services;
  closeServices = built.close;
  app = createChatApp(services);
});

after(async () => {
  await closeServices();
});

describe('authentication and path ids', () => {
  const routes = (id: string, userId = NOWHERE): Array<[string, string, unknown]> => [
    ['GET', '/api/rooms', undefined],
    ['POST', '/api/rooms', { name: 'x', memberIds: [] }],
    ['POST', '/api/dms', { userId }],
    ['GET', `/api/rooms/${id}`, undefined],
    ['PATCH', `/api/rooms/${id}`, { name: 'x' }],
    ['POST', `/api/rooms/${id}/members`, { userIds: [userId] }],
    ['DELETE', `/api/rooms/${id}/members/${userId}`, undefined],
    ['GET', `/api/rooms/${id}/messages`, undefined],
    ['POST', `/api/rooms/${id}/messages`, { clientMsgId: 'c1', body: 'hi' }],
    ['POST', `/api/rooms/${id}/read`, { seq: 1 }],
  ];

  for (const [method, path, json] of routes(NOWHERE)) {
    it(`${method} ${path.replace(NOWHERE, ':id')} without a token is unauthorized`, async () => {
      assertError(await call(method, path, { json }), 401, 'unauthorized');
      assertError(await call(method, path, { json, token: 'garbage' }), 401, 'unauthorized');
    });
  }

  it('answers unknown routes with a JSON 404 not_found', async () => {
    const user = await newUser('routes');
    assertError(
      await call('GET', `/api/rooms/${NOWHERE}/nothing-here`, { as: user }),
      404,
      'not_found',
    );
    assertError(await call('PUT', '/api/rooms', { as: user, json: {} }), 404, 'not_found');
  });

  it('checks the token before the path ids', async () => {
    assertError(await call('GET', '/api/rooms/not-a-uuid/messages'), 401, 'unauthorized');
  });

  const badIds = [
    'not-a-uuid',
    '123',
    'ABCDEF00-0000-7000-8000-00000000000A',
    `${NOWHERE}0`,
    "1' OR '1'='1",
  ];
  for (const badId of badIds) {
    it(`refuses the room id ${JSON.stringify(badId)} with validation_failed on every room route`, async () => {
      const user = await newUser('ids');
      for (const [method, path, json] of routes(encodeURIComponent(badId)).slice(3)) {
        const reply = await call(method, path, { as: user, json });
        assertError(reply, 400, 'validation_failed');
      }
    });
  }

  it('refuses a non-id user id in DELETE members and POST /api/dms with validation_failed', async () => {
    const owner = await newUser('ids');
    const room = await createGroup(owner, 'ids', []);
    assertError(
      await call('DELETE', `/api/rooms/${room.id}/members/bob`, { as: owner }),
      400,
      'validation_failed',
    );
    assertError(
      await call('POST', '/api/dms', { as: owner, json: { userId: 'bob' } }),
      400,
      'validation_failed',
    );
  });

  it('answers not_member for a room that does not exist, exactly as for a room one is not in', async () => {
    const owner = await newUser('hidden');
    const outsider = await newUser('outsider');
    const room = await createGroup(owner, 'secret', []);
    for (const [method, path, json] of routes(NOWHERE, owner.userId).slice(3)) {
      const unknown = await call(method, path, { as: outsider, json });
      assertError(unknown, 403, 'not_member');
      const existing = await call(method, path.replace(NOWHERE, room.id), { as: outsider, json });
      assertError(existing, 403, 'not_member');
      assert.deepEqual(
        existing.body,
        unknown.body,
        `${method} ${path} reveals that the room exists`,
      );
    }
  });
});

describe('groups', () => {
  it('creates a group: 201 {room} with the owner and members, deduplicated', async () => {
    const owner = await newUser('owner');
    const bob = await newUser('bob');
    const carol = await newUser('carol');
    const reply = await call('POST', '/api/rooms', {
      as: owner,
      json: {
        name: '  Weekend plans  ',
        memberIds: [bob.userId, carol.userId, bob.userId, owner.userId],
      },
    });
    const room = roomOf(reply, 201);
    assert.ok(isId(room.id));
    assert.equal(room.kind, 'group');
    assert.equal(room.name, 'Weekend plans');
    assert.equal(room.ownerId, owner.userId);
    assert.deepEqual([...room.memberIds].sort(), [owner.userId, bob.userId, carol.userId].sort());
    assert.equal(room.peerId, null);
    assert.equal(room.lastSeq, 0);
    assert.equal(room.readSeq, 0);
    assert.equal(room.unread, 0);
    assert.equal(room.lastMessage, null);
    assert.equal(new Date(room.createdAt).toISOString(), room.createdAt);

    for (const member of [owner, bob, carol]) {
      const listed = (await listRooms(member)).find((candidate) => candidate.id === room.id);
      assert.ok(listed, 'every member lists the new group');
      assert.equal(listed.name, 'Weekend plans');
      assert.equal((await viewRoom(member, room.id)).id, room.id);
    }
  });

  it('creates a group of one', async () => {
    const owner = await newUser('solo');
    const room = await createGroup(owner, 'notes to self', []);
    assert.deepEqual(room.memberIds, [owner.userId]);
  });

  it('GET /api/rooms/:id includes the members as public profiles', async () => {
    const owner = await newUser('detail');
    const bob = await newUser('detail');
    const room = await createGroup(owner, 'detail', [bob]);
    const reply = await call('GET', `/api/rooms/${room.id}`, { as: bob });
    const detail = reply.body.room as RoomView & {
      members?: Array<{ id: string; username: string }>;
    };
    assert.ok(Array.isArray(detail.members), `members missing: ${JSON.stringify(detail)}`);
    assert.deepEqual(
      detail.members.map((member) => member.id).sort(),
      [owner.userId, bob.userId].sort(),
    );
    const ownerProfile = detail.members.find((member) => member.id === owner.userId);
    assert.equal(ownerProfile?.username, owner.username);
    assert.equal(JSON.stringify(detail.members).includes('password'), false);
  });

  it('refuses unknown members with not_found and creates nothing', async () => {
    const owner = await newUser('owner');
    const before = (await listRooms(owner)).length;
    assertError(
      await call('POST', '/api/rooms', {
        as: owner,
        json: { name: 'ghosts', memberIds: [NOWHERE] },
      }),
      404,
      'not_found',
    );
    assert.equal((await listRooms(owner)).length, before);
  });

  const invalid: Array<[string, unknown]> = [
    ['an empty name', { name: '', memberIds: [] }],
    ['a blank name', { name: '   ', memberIds: [] }],
    ['a name over 100 characters', { name: 'n'.repeat(101), memberIds: [] }],
    ['a name with a lone surrogate', { name: 'team \ud800', memberIds: [] }],
    ['a name with a NUL', { name: 'team\u0000', memberIds: [] }],
    ['a name with a control character', { name: 'team\u001b[31m', memberIds: [] }],
    ['a numeric name', { name: 7, memberIds: [] }],
    ['a missing memberIds', { name: 'x' }],
    ['memberIds that is not an array', { name: 'x', memberIds: NOWHERE }],
    ['a member id that is not an id', { name: 'x', memberIds: ['bob'] }],
    [
      '1000 requested members',
      { name: 'x', memberIds: Array.from({ length: 1000 }, () => NOWHERE) },
    ],
  ];
  for (const [label, json] of invalid) {
    it(`refuses ${label} with validation_failed`, async () => {
      const owner = await newUser('bad');
      assertError(await call('POST', '/api/rooms', { as: owner, json }), 400, 'validation_failed');
    });
  }

  it('refuses malformed JSON with invalid_json', async () => {
    const owner = await newUser('bad');
    assertError(
      await call('POST', '/api/rooms', { as: owner, raw: '{"name":' }),
      400,
      'invalid_json',
    );
  });

  it('renames a group for every member', async () => {
    const owner = await newUser('ren');
    const bob = await newUser('ren');
    const room = await createGroup(owner, 'old name', [bob]);
    const renamed = roomOf(
      await call('PATCH', `/api/rooms/${room.id}`, { as: owner, json: { name: ' new name ' } }),
    );
    assert.equal(renamed.name, 'new name');
    assert.equal((await viewRoom(bob, room.id)).name, 'new name');
    assertError(
      await call('PATCH', `/api/rooms/${room.id}`, { as: owner, json: { name: '' } }),
      400,
      'validation_failed',
    );
  });

  it('adds members, ignoring ones already in, refusing unknown users', async () => {
    const owner = await newUser('add');
    const bob = await newUser('add');
    const carol = await newUser('add');
    const room = await createGroup(owner, 'adders', [bob]);
    const added = roomOf(
      await call('POST', `/api/rooms/${room.id}/members`, {
        as: owner,
        json: { userIds: [carol.userId, bob.userId, carol.userId] },
      }),
    );
    assert.deepEqual([...added.memberIds].sort(), [owner.userId, bob.userId, carol.userId].sort());
    assert.equal((await viewRoom(carol, room.id)).id, room.id);
    await sendOk(carol, room.id);

    assertError(
      await call('POST', `/api/rooms/${room.id}/members`, {
        as: owner,
        json: { userIds: [NOWHERE] },
      }),
      404,
      'not_found',
    );
    assertError(
      await call('POST', `/api/rooms/${room.id}/members`, { as: owner, json: { userIds: [] } }),
      400,
      'validation_failed',
    );
    assertError(
      await call('POST', `/api/rooms/${room.id}/members`, {
        as: owner,
        json: { userIds: ['carol'] },
      }),
      400,
      'validation_failed',
    );
  });

  it('lets the owner remove a member, who then loses access at once', async () => {
    const owner = await newUser('rm');
    const bob = await newUser('rm');
    const carol = await newUser('rm');
    const room = await createGroup(owner, 'removal', [bob, carol]);
    await sendOk(bob, room.id);

    const reply = await call('DELETE', `/api/rooms/${room.id}/members/${bob.userId}`, {
      as: owner,
    });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, { ok: true });

    assertError(await call('GET', `/api/rooms/${room.id}`, { as: bob }), 403, 'not_member');
    assertError(
      await call('GET', `/api/rooms/${room.id}/messages`, { as: bob }),
      403,
      'not_member',
    );
    assertError(await send(bob, room.id, 'after-removal', 'let me in'), 403, 'not_member');
    assertError(await markRead(bob, room.id, 1), 403, 'not_member');
    assert.equal(
      (await listRooms(bob)).some((listed) => listed.id === room.id),
      false,
    );
    assert.deepEqual(
      [...(await viewRoom(carol, room.id)).memberIds].sort(),
      [owner.userId, carol.userId].sort(),
    );

    assertError(
      await call('DELETE', `/api/rooms/${room.id}/members/${bob.userId}`, { as: owner }),
      404,
      'not_found',
    );
  });

  it('forbids a member other than the owner to remove someone else', async () => {
    const owner = await newUser('own');
    const bob = await newUser('own');
    const carol = await newUser('own');
    const room = await createGroup(owner, 'no coups', [bob, carol]);
    for (const target of [carol, owner]) {
      assertError(
        await call('DELETE', `/api/rooms/${room.id}/members/${target.userId}`, { as: bob }),
        403,
        'forbidden',
      );
    }
    assert.equal((await viewRoom(owner, room.id)).memberIds.length, 3);
  });

  it('lets a member leave by removing themselves', async () => {
    const owner = await newUser('leave');
    const bob = await newUser('leave');
    const room = await createGroup(owner, 'leavers', [bob]);
    const reply = await call('DELETE', `/api/rooms/${room.id}/members/${bob.userId}`, { as: bob });
    assert.deepEqual(reply.body, { ok: true });
    assert.equal(
      (await listRooms(bob)).some((listed) => listed.id === room.id),
      false,
    );
    assert.deepEqual((await viewRoom(owner, room.id)).memberIds, [owner.userId]);
    assert.equal((await viewRoom(owner, room.id)).ownerId, owner.userId);
  });

  it('hands ownership to the longest-standing member when the owner leaves', async () => {
    const owner = await newUser('heir');
    const bob = await newUser('heir');
    const carol = await newUser('heir');
    const room = await createGroup(owner, 'succession', [bob]);
    roomOf(
      await call('POST', `/api/rooms/${room.id}/members`, {
        as: owner,
        json: { userIds: [carol.userId] },
      }),
    );

    const reply = await call('DELETE', `/api/rooms/${room.id}/members/${owner.userId}`, {
      as: owner,
    });
    assert.deepEqual(reply.body, { ok: true });
    const after = await viewRoom(bob, room.id);
    assert.equal(after.ownerId, bob.userId, 'bob joined before carol');
    assert.deepEqual([...after.memberIds].sort(), [bob.userId, carol.userId].sort());
    // The new owner has the owner's rights; the old one has none.
    assertError(
      await call('DELETE', `/api/rooms/${room.id}/members/${carol.userId}`, { as: owner }),
      403,
      'not_member',
    );
    const removed = await call('DELETE', `/api/rooms/${room.id}/members/${carol.userId}`, {
      as: bob,
    });
    assert.deepEqual(removed.body, { ok: true });
  });

  it('forbids renaming, leaving, removing from or adding to a DM', async () => {
    const alice = await newUser('dmrules');
    const bob = await newUser('dmrules');
    const carol = await newUser('dmrules');
    const dm = await openDm(alice, bob);
    assertError(
      await call('PATCH', `/api/rooms/${dm.id}`, { as: alice, json: { name: 'ours' } }),
      403,
      'forbidden',
    );
    assertError(
      await call('DELETE', `/api/rooms/${dm.id}/members/${alice.userId}`, { as: alice }),
      403,
      'forbidden',
    );
    assertError(
      await call('DELETE', `/api/rooms/${dm.id}/members/${bob.userId}`, { as: alice }),
      403,
      'forbidden',
    );
    assertError(
      await call('POST', `/api/rooms/${dm.id}/members`, {
        as: alice,
        json: { userIds: [carol.userId] },
      }),
      403,
      'forbidden',
    );
    assert.deepEqual(
      [...(await viewRoom(bob, dm.id)).memberIds].sort(),
      [alice.userId, bob.userId].sort(),
    );
  });
});

describe('DMs', () => {
  it('gets or creates one room per pair, from either side', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const fromAlice = await openDm(alice, bob);
    assert.equal(fromAlice.kind, 'dm');
    assert.equal(fromAlice.peerId, bob.userId);
    assert.equal(
      fromAlice.name,
      bob.username,
      "a DM is named after the other member's display name",
    );
    assert.equal(fromAlice.ownerId, null);
    assert.deepEqual([...fromAlice.memberIds].sort(), [alice.userId, bob.userId].sort());

    const fromBob = await openDm(bob, alice);
    assert.equal(fromBob.id, fromAlice.id);
    assert.equal(fromBob.peerId, alice.userId);
    assert.equal(fromBob.name, alice.username);
    assert.equal((await openDm(alice, bob)).id, fromAlice.id);
    assert.equal((await listRooms(alice)).filter((room) => room.id === fromAlice.id).length, 1);
  });

  it('creates a single room when both sides open it at once', async () => {
    const alice = await newUser('race');
    const bob = await newUser('race');
    const rooms = await Promise.all([openDm(alice, bob), openDm(bob, alice), openDm(alice, bob)]);
    assert.equal(new Set(rooms.map((room) => room.id)).size, 1);
  });

  it('refuses a DM with oneself (validation_failed) and with an unknown user (not_found)', async () => {
    const alice = await newUser('self');
    assertError(
      await call('POST', '/api/dms', { as: alice, json: { userId: alice.userId } }),
      400,
      'validation_failed',
    );
    assertError(
      await call('POST', '/api/dms', { as: alice, json: { userId: NOWHERE } }),
      404,
      'not_found',
    );
    assertError(await call('POST', '/api/dms', { as: alice, json: {} }), 400, 'validation_failed');
  });

  it('refuses to open a DM when either side blocked the other', async () => {
    const blocker = await newUser('blocker');
    const blocked = await newUser('blocked');
    await services.social.block(blocker.userId, blocked.userId);
    assertError(
      await call('POST', '/api/dms', { as: blocker, json: { userId: blocked.userId } }),
      403,
      'blocked',
    );
    assertError(
      await call('POST', '/api/dms', { as: blocked, json: { userId: blocker.userId } }),
      403,
      'blocked',
    );
    await services.social.unblock(blocker.userId, blocked.userId);
    assert.equal((await openDm(blocked, blocker)).peerId, blocker.userId);
  });
});

describe('sending over REST', () => {
  it('answers 201 {message, duplicate: false} with the full message', async () => {
    const alice = await newUser('send');
    const bob = await newUser('send');
    const dm = await openDm(alice, bob);
    const before = Date.now();
    const reply = await send(alice, dm.id, 'first-1', 'hello bob');
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
    assert.deepEqual(Object.keys(reply.body).sort(), ['duplicate', 'message']);
    assert.equal(reply.body.duplicate, false);
    const message = reply.body.message as ChatMessage;
    assert.deepEqual(Object.keys(message).sort(), [
      'body',
      'clientMsgId',
      'createdAt',
      'id',
      'roomId',
      'senderId',
      'seq',
    ]);
    assert.ok(isId(message.id));
    assert.equal(message.roomId, dm.id);
    assert.equal(message.seq, 1);
    assert.equal(message.senderId, alice.userId);
    assert.equal(message.body, 'hello bob');
    assert.equal(message.clientMsgId, 'first-1');
    assert.equal(new Date(message.createdAt).toISOString(), message.createdAt);
    assert.ok(Date.parse(message.createdAt) >= before - 1000);

    // The record is per room: another member cannot reuse the id, even with the same body.
    assertError(await send(bob, dm.id, 'first-1', 'hi alice'), 409, 'idempotency_conflict');
    assertError(await send(bob, dm.id, 'first-1', 'hello bob'), 409, 'idempotency_conflict');
  });

  it('answers a retry with 200 {duplicate: true} and the original message, creating nothing', async () => {
    const alice = await newUser('retry');
    const room = await createGroup(alice, 'retries', []);
    const first = await send(alice, room.id, 'retry-me', 'once only');
    assert.equal(first.status, 201);
    for (let i = 0; i < 2; i++) {
      const again = await send(alice, room.id, 'retry-me', 'once only');
      assert.equal(again.status, 200);
      assert.equal(again.body.duplicate, true);
      assert.deepEqual(again.body.message, first.body.message);
    }
    assert.equal((await sendOk(alice, room.id)).seq, 2, 'the retries used no seq');
    assert.deepEqual(seqs(await history(alice, room.id)), [1, 2]);
  });

  it('refuses the same clientMsgId with a different body: 409 idempotency_conflict', async () => {
    const alice = await newUser('conflict');
    const room = await createGroup(alice, 'conflicts', []);
    assert.equal((await send(alice, room.id, 'same-id', 'one body')).status, 201);
    assertError(await send(alice, room.id, 'same-id', 'another body'), 409, 'idempotency_conflict');
    assert.deepEqual(seqs(await history(alice, room.id)), [1]);
  });

  it('keeps clientMsgIds per room', async () => {
    const alice = await newUser('perroom');
    const one = await createGroup(alice, 'one', []);
    const two = await createGroup(alice, 'two', []);
    assert.equal((await send(alice, one.id, 'shared-id', 'in one')).status, 201);
    const other = await send(alice, two.id, 'shared-id', 'in two');
    assert.equal(other.status, 201);
    assert.equal((other.body.message as ChatMessage).seq, 1);
  });

  it('answers concurrent retries of one send with one message', async () => {
    const alice = await newUser('burst');
    const room = await createGroup(alice, 'burst', []);
    const replies = await Promise.all(
      Array.from({ length: 5 }, () => send(alice, room.id, 'burst-1', 'same')),
    );
    assert.deepEqual(replies.map((reply) => reply.status).sort(), [200, 200, 200, 200, 201]);
    assert.equal(new Set(replies.map((reply) => (reply.body.message as ChatMessage).seq)).size, 1);
    assert.deepEqual(seqs(await history(alice, room.id)), [1]);
  });

  it('numbers concurrent sends densely: 1..N, no gap, no repeat', async () => {
    const alice = await newUser('dense');
    const bob = await newUser('dense');
    const room = await createGroup(alice, 'dense', [bob]);
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        send(i % 2 ? bob : alice, room.id, `dense-${i}`, `message ${i}`),
      ),
    );
    assert.ok(replies.every((reply) => reply.status === 201));
    const assigned = replies
      .map((reply) => (reply.body.message as ChatMessage).seq)
      .sort((a, b) => a - b);
    assert.deepEqual(assigned, range(1, 30));
    assert.deepEqual(seqs(await history(alice, room.id)), range(1, 30));
  });

  it('refuses non-members with 403 not_member', async () => {
    const alice = await newUser('nm');
    const mallory = await newUser('nm');
    const room = await createGroup(alice, 'members only', []);
    assertError(await send(mallory, room.id, 'sneak', 'hi'), 403, 'not_member');
    assertError(await send(mallory, NOWHERE, 'sneak', 'hi'), 403, 'not_member');
    assert.deepEqual(seqs(await history(alice, room.id)), []);
  });

  it('refuses to write to a DM blocked either way with 403 blocked', async () => {
    const alice = await newUser('bdm');
    const bob = await newUser('bdm');
    const dm = await openDm(alice, bob);
    await sendOk(alice, dm.id);
    await services.social.block(bob.userId, alice.userId);
    assertError(await send(alice, dm.id, 'blocked-1', 'hello?'), 403, 'blocked');
    assertError(await send(bob, dm.id, 'blocked-2', 'go away'), 403, 'blocked');
    await services.social.unblock(bob.userId, alice.userId);
    assert.equal((await sendOk(alice, dm.id)).seq, 2);
  });

  it('accepts 4000 code points including emoji and returns the body unchanged', async () => {
    const alice = await newUser('long');
    const room = await createGroup(alice, 'long', []);
    const emoji = '😀'.repeat(4000);
    const mixed = `${'a'.repeat(3997)}👍🏽é`;
    for (const body of [emoji, mixed]) {
      assert.equal([...body].length, 4000);
      const message = await sendOk(alice, room.id, body);
      assert.equal(message.body, body);
    }
    const page = await history(alice, room.id);
    assert.deepEqual(
      page.messages.map((message) => message.body),
      [emoji, mixed],
    );
  });

  const invalidBodies: Array<[string, unknown]> = [
    ['4001 code points', '😀'.repeat(4001)],
    ['4001 ASCII characters', 'a'.repeat(4001)],
    ['an empty body', ''],
    ['a lone high surrogate', 'broken \ud83d'],
    ['a lone low surrogate', '\ude00 broken'],
    ['a reversed surrogate pair', '\ude00\ud83d'],
    ['a numeric body', 42],
    ['a null body', null],
  ];
  for (const [label, body] of invalidBodies) {
    it(`refuses ${label} with validation_failed`, async () => {
      const alice = await newUser('vb');
      const room = await createGroup(alice, 'vb', []);
      const reply = await call('POST', `/api/rooms/${room.id}/messages`, {
        as: alice,
        json: { clientMsgId: 'valid-id', body },
      });
      assertError(reply, 400, 'validation_failed');
    });
  }

  const invalidIds: unknown[] = [
    '',
    'x'.repeat(65),
    'has space',
    'slash/id',
    'plus+id',
    'ünïcode',
    'emoji😀',
    'semi;colon',
    7,
    null,
  ];
  it('refuses clientMsgIds outside 1-64 of A-Z a-z 0-9 _ - : . with validation_failed', async () => {
    const alice = await newUser('vid');
    const room = await createGroup(alice, 'vid', []);
    for (const clientMsgId of invalidIds) {
      const reply = await call('POST', `/api/rooms/${room.id}/messages`, {
        as: alice,
        json: { clientMsgId, body: 'hi' },
      });
      assertError(reply, 400, 'validation_failed');
    }
    assertError(
      await call('POST', `/api/rooms/${room.id}/messages`, { as: alice, json: { body: 'hi' } }),
      400,
      'validation_failed',
    );
    const widest = `${'Az09_-:.'.repeat(8)}`;
    assert.equal(widest.length, 64);
    assert.equal((await send(alice, room.id, widest, 'hi')).status, 201);
    assert.equal((await send(alice, room.id, 'z', 'hi')).status, 201);
    assert.deepEqual(seqs(await history(alice, room.id)), [1, 2]);
  });

  it('refuses malformed JSON with invalid_json', async () => {
    const alice = await newUser('json');
    const room = await createGroup(alice, 'json', []);
    assertError(
      await call('POST', `/api/rooms/${room.id}/messages`, {
        as: alice,
        raw: '{"clientMsgId":"a","body":',
      }),
      400,
      'invalid_json',
    );
  });

  it('limits REST sends to 100 per user per 10 seconds (429 rate_limited, Retry-After)', async () => {
    const alice = await newUser('flood');
    const room = await createGroup(alice, 'flood', []);
    for (let i = 0; i < 100; i++) {
      assert.equal((await send(alice, room.id, `flood-${i}`, 'spam')).status, 201);
    }
    const refused = await send(alice, room.id, 'flood-100', 'spam');
    assertError(refused, 429, 'rate_limited');
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 10, `Retry-After ${retryAfter}`);
    assert.equal((await history(alice, room.id, 'limit=1')).messages[0]?.seq, 100);
  });
});

describe('history paging', () => {
  let alice: TestUser;
  let roomId: string;
  const TOTAL = 50;

  before(async () => {
    alice = await newUser('hist');
    const bob = await newUser('hist');
    roomId = (await createGroup(alice, 'history', [bob])).id;
    for (let i = 1; i <= TOTAL; i++) {
      const message = await sendOk(i % 3 ? alice : bob, roomId, `message number ${i}`);
      assert.equal(message.seq, i);
    }
  });

  it('returns the newest page without a cursor (default limit 50)', async () => {
    const all = await history(alice, roomId);
    assert.deepEqual(seqs(all), range(1, 50));
    assert.equal(all.hasMore, false);
    assert.equal(all.messages[49]?.body, 'message number 50');

    const newest = await history(alice, roomId, 'limit=20');
    assert.deepEqual(seqs(newest), range(31, 50));
    assert.equal(newest.hasMore, true);
  });

  it('before=N returns the newest page below N', async () => {
    const page = await history(alice, roomId, 'before=31&limit=20');
    assert.deepEqual(seqs(page), range(11, 30));
    assert.equal(page.hasMore, true);
    const oldest = await history(alice, roomId, 'before=11&limit=20');
    assert.deepEqual(seqs(oldest), range(1, 10));
    assert.equal(oldest.hasMore, false);
    const exact = await history(alice, roomId, 'before=21&limit=20');
    assert.deepEqual(seqs(exact), range(1, 20));
    assert.equal(exact.hasMore, false, 'nothing older than seq 1');
    const beyond = await history(alice, roomId, 'before=1000&limit=5');
    assert.deepEqual(seqs(beyond), range(46, 50));
    assert.equal(beyond.hasMore, true);
    for (const edge of ['before=1', 'before=0']) {
      const empty = await history(alice, roomId, edge);
      assert.deepEqual(seqs(empty), []);
      assert.equal(empty.hasMore, false);
    }
  });

  it('after=N returns the oldest page above N', async () => {
    const first = await history(alice, roomId, 'after=0&limit=20');
    assert.deepEqual(seqs(first), range(1, 20));
    assert.equal(first.hasMore, true);
    const middle = await history(alice, roomId, 'after=20&limit=20');
    assert.deepEqual(seqs(middle), range(21, 40));
    assert.equal(middle.hasMore, true);
    const last = await history(alice, roomId, 'after=40&limit=20');
    assert.deepEqual(seqs(last), range(41, 50));
    assert.equal(last.hasMore, false);
    const exact = await history(alice, roomId, 'after=30&limit=20');
    assert.deepEqual(seqs(exact), range(31, 50));
    assert.equal(exact.hasMore, false, 'nothing newer than seq 50');
    for (const edge of ['after=50', 'after=999']) {
      const empty = await history(alice, roomId, edge);
      assert.deepEqual(seqs(empty), []);
      assert.equal(empty.hasMore, false);
    }
  });

  it('after and before together bound a window', async () => {
    const head = await history(alice, roomId, 'after=10&before=20&limit=5');
    assert.deepEqual(seqs(head), range(11, 15));
    assert.equal(head.hasMore, true);
    const whole = await history(alice, roomId, 'after=10&before=20&limit=9');
    assert.deepEqual(seqs(whole), range(11, 19));
    assert.equal(whole.hasMore, false);
  });

  it('accepts the limit bounds 1 and 200', async () => {
    assert.deepEqual(seqs(await history(alice, roomId, 'limit=1')), [50]);
    assert.deepEqual(seqs(await history(alice, roomId, 'limit=200')), range(1, 50));
  });

  const badQueries = [
    'limit=0',
    'limit=201',
    'limit=abc',
    'limit=-1',
    'limit=1.5',
    'limit=',
    'limit=1e2',
    'before=abc',
    'before=-5',
    'after=1.5',
    'after=',
    'after=0x10',
  ];
  for (const query of badQueries) {
    it(`refuses ${query} with validation_failed`, async () => {
      const reply = await call('GET', `/api/rooms/${roomId}/messages?${query}`, { as: alice });
      assertError(reply, 400, 'validation_failed');
    });
  }

  for (const limit of [1, 7, 20, 49, 50, 200]) {
    it(`tiles the whole history with limit=${limit}, scrolling back and catching up`, async () => {
      const back: number[] = [];
      let page = await history(alice, roomId, `limit=${limit}`);
      let pages = 1;
      for (;;) {
        back.unshift(...seqs(page));
        const oldest = page.messages[0]?.seq;
        if (!page.hasMore || oldest === undefined) {
          break;
        }
        page = await history(alice, roomId, `before=${oldest}&limit=${limit}`);
        pages += 1;
        assert.ok(page.messages.length > 0, 'hasMore promised an older page');
      }
      assert.deepEqual(back, range(1, TOTAL));
      assert.equal(pages, Math.max(1, Math.ceil(TOTAL / limit)));

      const forward: number[] = [];
      let cursor = 0;
      pages = 0;
      for (;;) {
        const next = await history(alice, roomId, `after=${cursor}&limit=${limit}`);
        pages += 1;
        forward.push(...seqs(next));
        cursor = next.messages.at(-1)?.seq ?? cursor;
        if (!next.hasMore) {
          break;
        }
        assert.equal(next.messages.length, limit, 'only the last page is short');
      }
      assert.deepEqual(forward, range(1, TOTAL));
      assert.equal(pages, Math.max(1, Math.ceil(TOTAL / limit)));
    });
  }

  it('returns an empty page for an empty room', async () => {
    const room = await createGroup(alice, 'empty', []);
    for (const query of ['', 'after=0', 'before=10']) {
      const page = await history(alice, room.id, query);
      assert.deepEqual(page, { messages: [], hasMore: false });
    }
  });

  it('refuses non-members with not_member', async () => {
    const outsider = await newUser('peek');
    assertError(
      await call('GET', `/api/rooms/${roomId}/messages`, { as: outsider }),
      403,
      'not_member',
    );
  });
});

describe('read markers and unread', () => {
  it('shows lastSeq, readSeq, unread and lastMessage in GET /api/rooms', async () => {
    const alice = await newUser('unread');
    const bob = await newUser('unread');
    const room = await createGroup(alice, 'unread', [bob]);
    for (let i = 1; i <= 3; i++) {
      await sendOk(alice, room.id, `news ${i}`);
    }
    const listed = (await listRooms(bob)).find((candidate) => candidate.id === room.id);
    assert.ok(listed);
    assert.equal(listed.lastSeq, 3);
    assert.equal(listed.readSeq, 0);
    assert.equal(listed.unread, 3);
    assert.equal(listed.lastMessage?.seq, 3);
    assert.equal(listed.lastMessage?.body, 'news 3');
    assert.equal(listed.lastMessage?.senderId, alice.userId);
    const viewed = await viewRoom(bob, room.id);
    assert.equal(viewed.unread, 3);
    assert.equal(viewed.lastMessage?.seq, 3);
  });

  it('writes the read markers of senders in batches while sends pour in, and leaves none behind', async () => {
    const alice = await newUser('batch');
    const bob = await newUser('batch');
    const rooms = [
      await createGroup(alice, 'batch one', [bob]),
      await createGroup(bob, 'batch two', [alice]),
    ];
    const writes: number[] = [];
    const markSentMany = services.rooms.markSentMany;
    services.rooms.markSentMany = (marks) => {
      writes.push(marks.length);
      return markSentMany(marks);
    };
    try {
      const sends = 40;
      await Promise.all(
        Array.from({ length: sends }, (_, i) =>
          services.messaging.send(
            i % 2 === 0 ? alice.userId : bob.userId,
            rooms[i % 4 < 2 ? 0 : 1]!.id,
            `batch-${i}`,
            `message ${i}`,
          ),
        ),
      );
      const deadline = Date.now() + 5_000;
      while (writes.reduce((sum, n) => sum + n, 0) < sends && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(
        writes.reduce((sum, n) => sum + n, 0),
        sends,
        'every mark written once',
      );
      assert.ok(writes.length < sends, `${sends} marks in ${writes.length} statements`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      for (const user of [alice, bob]) {
        for (const room of await listRooms(user)) {
          if (rooms.some((candidate) => candidate.id === room.id)) {
            const last = (
              await call('GET', `/api/rooms/${room.id}/messages?limit=50`, { as: user })
            ).body.messages as ChatMessage[];
            const ownLast = Math.max(
              ...last.filter((m) => m.senderId === user.userId).map((m) => m.seq),
            );
            assert.ok(
              room.readSeq >= ownLast,
              `${user.username} read ${room.readSeq} < ${ownLast}`,
            );
          }
        }
      }
    } finally {
      services.rooms.markSentMany = markSentMany;
    }
  });

  it('moves the read marker forward only and clamps it to lastSeq', async () => {
    const alice = await newUser('marker');
    const bob = await newUser('marker');
    const room = await createGroup(alice, 'markers', [bob]);
    for (let i = 1; i <= 5; i++) {
      await sendOk(alice, room.id);
    }
    const unreadOf = async (user: TestUser) =>
      (await listRooms(user)).find((candidate) => candidate.id === room.id);

    let reply = await markRead(bob, room.id, 2);
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, { readSeq: 2 });
    assert.deepEqual([(await unreadOf(bob))?.readSeq, (await unreadOf(bob))?.unread], [2, 3]);

    reply = await markRead(bob, room.id, 1);
    assert.deepEqual(reply.body, { readSeq: 2 }, 'markers never move back');
    reply = await markRead(bob, room.id, 0);
    assert.deepEqual(reply.body, { readSeq: 2 });

    reply = await markRead(bob, room.id, 999);
    assert.deepEqual(reply.body, { readSeq: 5 }, 'clamped to the last message');
    const read = await unreadOf(bob);
    assert.equal(read?.readSeq, 5);
    assert.equal(read?.unread, 0);

    // The clamp is real, not only displayed: a new message is unread.
    await sendOk(alice, room.id);
    const fresh = await unreadOf(bob);
    assert.equal(fresh?.lastSeq, 6);
    assert.equal(fresh?.readSeq, 5);
    assert.equal(fresh?.unread, 1);

    // Markers are per user, and what a user sent counts as read by them (moved after the ack).
    let mine = await unreadOf(alice);
    for (let attempt = 0; attempt < 50 && mine?.readSeq !== 6; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      mine = await unreadOf(alice);
    }
    assert.equal(mine?.lastSeq, 6);
    assert.equal(mine?.readSeq, 6);
    assert.equal(mine?.unread, 0);
  });

  it('keeps readSeq at 0 in an empty room', async () => {
    const alice = await newUser('emptyread');
    const room = await createGroup(alice, 'empty', []);
    assert.deepEqual((await markRead(alice, room.id, 10)).body, { readSeq: 0 });
    const listed = (await listRooms(alice)).find((candidate) => candidate.id === room.id);
    assert.equal(listed?.unread, 0);
  });

  it('refuses invalid seqs with validation_failed', async () => {
    const alice = await newUser('badread');
    const room = await createGroup(alice, 'bad reads', []);
    for (const seq of [-1, 1.5, '2', null, Number.MAX_SAFE_INTEGER + 2]) {
      assertError(await markRead(alice, room.id, seq), 400, 'validation_failed');
    }
    assertError(
      await call('POST', `/api/rooms/${room.id}/read`, { as: alice, json: {} }),
      400,
      'validation_failed',
    );
  });

  it('refuses non-members with not_member', async () => {
    const alice = await newUser('nmread');
    const outsider = await newUser('nmread');
    const room = await createGroup(alice, 'private', []);
    await sendOk(alice, room.id);
    assertError(await markRead(outsider, room.id, 1), 403, 'not_member');
    assertError(await markRead(outsider, NOWHERE, 1), 403, 'not_member');
  });

  it('lists rooms by latest activity first', async () => {
    const alice = await newUser('order');
    const first = await createGroup(alice, 'first', []);
    const second = await createGroup(alice, 'second', []);
    await sendOk(alice, first.id);
    let ids = (await listRooms(alice)).map((room) => room.id);
    assert.deepEqual(ids, [first.id, second.id]);
    await sendOk(alice, second.id);
    ids = (await listRooms(alice)).map((room) => room.id);
    assert.deepEqual(ids, [second.id, first.id]);
  });
});

describe('blocks and groups', () => {
  it('refuses to put a user who blocked you (or whom you blocked) into a group with you', async () => {
    const app = createChatApp(services);
    const victim = await registerUser(services);
    const mallory = await registerUser(services);
    const friend = await registerUser(services);
    await services.social.block(victim.userId, mallory.userId);
    const create = await app.request('/api/rooms', {
      method: 'POST',
      headers: bearer(mallory),
      body: JSON.stringify({ name: 'no escape', memberIds: [victim.userId] }),
    });
    assert.equal(create.status, 403);
    assert.equal(((await create.json()) as { error: { code: string } }).error.code, 'blocked');
    const own = await app.request('/api/rooms', {
      method: 'POST',
      headers: bearer(mallory),
      body: JSON.stringify({ name: 'innocent', memberIds: [friend.userId] }),
    });
    const { room } = (await own.json()) as { room: { id: string } };
    const add = await app.request(`/api/rooms/${room.id}/members`, {
      method: 'POST',
      headers: bearer(mallory),
      body: JSON.stringify({ userIds: [victim.userId] }),
    });
    assert.equal(add.status, 403);
    assert.equal(((await add.json()) as { error: { code: string } }).error.code, 'blocked');
    const reverse = await app.request('/api/rooms', {
      method: 'POST',
      headers: bearer(victim),
      body: JSON.stringify({ name: 'also not', memberIds: [mallory.userId] }),
    });
    assert.equal(reverse.status, 403);
  });

  it('keeps blocked pairs apart whoever adds them: another member, or a group made with both', async () => {
    const app = createChatApp(services);
    const [alice, bob, eve] = await Promise.all([1, 2, 3].map(() => registerUser(services)));
    await services.social.block(bob!.userId, eve!.userId);
    const post = (user: TestUser, path: string, body: unknown) =>
      app.request(path, { method: 'POST', headers: bearer(user), body: JSON.stringify(body) });
    const both = await post(alice!, '/api/rooms', {
      name: 'both',
      memberIds: [bob!.userId, eve!.userId],
    });
    assert.equal(both.status, 403);
    const made = await post(eve!, '/api/rooms', {
      name: 'eve and alice',
      memberIds: [alice!.userId],
    });
    const { room } = (await made.json()) as { room: { id: string } };
    const added = await post(alice!, `/api/rooms/${room.id}/members`, { userIds: [bob!.userId] });
    assert.equal(added.status, 403);
    assert.equal(((await added.json()) as { error: { code: string } }).error.code, 'blocked');
  });
});

describe('where a connection starts in each room', () => {
  it('is the committed head, the newest stored seq for rooms numbered before heads, or zero', async () => {
    const [ann, ben] = [await newUser('cursor_ann'), await newUser('cursor_ben')];
    const busy = await createGroup(ann, 'busy', [ben]);
    const quiet = await createGroup(ann, 'quiet', [ben]);
    const older = await createGroup(ann, 'older', []);
    for (const [roomId, count] of [
      [busy.id, 3],
      [older.id, 2],
    ] as const) {
      for (let i = 1; i <= count; i++) {
        assert.equal((await send(ann, roomId, `c-${roomId}-${i}`, `hello ${i}`)).status, 201);
      }
    }
    // A room whose messages were numbered before heads were kept has no head row.
    await services.platform.sql.query('DELETE FROM room_heads WHERE room_id = $1', [older.id]);

    const annCursors = await services.roomCursors(ann.userId);
    assert.deepEqual(Object.fromEntries(annCursors), {
      [busy.id]: 3,
      [quiet.id]: 0,
      [older.id]: 2,
    });
    assert.deepEqual(Object.fromEntries(await services.roomCursors(ben.userId)), {
      [busy.id]: 3,
      [quiet.id]: 0,
    });
    const stranger = await newUser('cursor_stranger');
    assert.equal((await services.roomCursors(stranger.userId)).size, 0);
  });
});
