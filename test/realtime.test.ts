import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT, generateKeyPair } from 'jose';
import { startTestServer, type TestServer } from './support/server.ts';
import { registerUser, type TestUser } from './support/services.ts';
import { TestSocket, type Frame } from './support/ws-client.ts';

let server: TestServer;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;
let dmId: string;

async function openDm(a: TestUser, b: TestUser): Promise<string> {
  const { status, body } = await server.api<{ room: { id: string } }>('/api/dms', {
    user: a,
    body: { userId: b.userId },
  });
  assert.equal(status, 200);
  return body.room.id;
}

function msgFrames(socket: TestSocket, roomId: string): number[] {
  return socket
    .ofType('message')
    .map((f) => f['message'] as { roomId: string; seq: number })
    .filter((m) => m.roomId === roomId)
    .map((m) => m.seq);
}

async function sendAndAck(
  socket: TestSocket,
  roomId: string,
  clientMsgId: string,
  body: string,
): Promise<Frame> {
  const from = socket.frames.length;
  socket.send({ type: 'send', roomId, clientMsgId, body });
  return socket.next(
    (f) =>
      (f.type === 'ack' || f.type === 'error') &&
      (f['clientMsgId'] === clientMsgId || f['ref'] === clientMsgId),
    5000,
    from,
  );
}

before(async () => {
  server = await startTestServer({ ATLAS_ALLOWED_ORIGINS: 'https://chat.example' });
  const { services } = server;
  alice = await registerUser(services);
  bob = await registerUser(services);
  carol = await registerUser(services);
  dmId = await openDm(alice, bob);
});

after(async () => {
  await server.dispose();
});

describe('upgrade', () => {
  it('refuses a missing token with 401 unauthorized before upgrading', async () => {
    const url = server.url.replace('http', 'ws') + '/ws';
    await assert.rejects(TestSocket.open(url), (error: { status: number; body: string }) => {
      assert.equal(error.status, 401);
      assert.equal(JSON.parse(error.body).error.code, 'unauthorized');
      return true;
    });
  });

  it('refuses a forged token (other key) and an alg:none token', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ sid: alice.userId })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' })
      .setIssuer('atlas')
      .setAudience('atlas')
      .setSubject(alice.userId)
      .setExpirationTime('5m')
      .sign(privateKey);
    const none = `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${Buffer.from(
      JSON.stringify({
        sub: alice.userId,
        sid: alice.userId,
        iss: 'atlas',
        aud: 'atlas',
        exp: 9999999999,
      }),
    ).toString('base64url')}.`;
    for (const token of [forged, none, 'garbage']) {
      await assert.rejects(
        TestSocket.open(server.wsUrl({ ...alice, accessToken: token })),
        (error: { status: number }) => error.status === 401,
      );
    }
  });

  it('refuses an Origin outside the allowlist with 403 and accepts a listed one', async () => {
    await assert.rejects(
      TestSocket.open(server.wsUrl(alice), { headers: { origin: 'https://evil.example' } }),
      (error: { status: number; body: string }) =>
        error.status === 403 && JSON.parse(error.body).error.code === 'origin_not_allowed',
    );
    const ok = await TestSocket.connect(server.wsUrl(alice), {
      headers: { origin: 'https://chat.example' },
    });
    ok.close();
  });

  it('accepts the token in Sec-WebSocket-Protocol instead of the URL', async () => {
    const url = server.url.replace('http', 'ws') + '/ws';
    const socket = await TestSocket.connect(url, {}, [
      'atlas.v1',
      `access_token.${alice.accessToken}`,
    ]);
    assert.equal(socket.ws.protocol, 'atlas.v1');
    socket.close();
  });
});

describe('sending and live delivery', () => {
  it('acks a send with seq, delivers it live to the other member and echoes it to the sender', async () => {
    const a = await TestSocket.connect(server.wsUrl(alice));
    const b = await TestSocket.connect(server.wsUrl(bob));
    const ack = await sendAndAck(a, dmId, 'live-1', 'hello bob');
    assert.equal(ack.type, 'ack');
    assert.equal(ack['duplicate'], false);
    const seq = ack['seq'] as number;
    const got = await b.next(
      (f) => f.type === 'message' && (f['message'] as { seq: number }).seq === seq,
    );
    assert.equal((got['message'] as { body: string }).body, 'hello bob');
    await a.next(
      (f) =>
        f.type === 'message' && (f['message'] as { clientMsgId: string }).clientMsgId === 'live-1',
    );
    // Fanned-out frames are encoded once and handed over as bytes, yet still go out as text.
    assert.equal(a.binaryFrames + b.binaryFrames, 0);
    a.close();
    b.close();
  });

  it('answers a retried clientMsgId with the original seq and duplicate: true, over socket and REST', async () => {
    const a = await TestSocket.connect(server.wsUrl(alice));
    const first = await sendAndAck(a, dmId, 'retry-1', 'once');
    const second = await sendAndAck(a, dmId, 'retry-1', 'once');
    assert.equal(second['seq'], first['seq']);
    assert.equal(second['duplicate'], true);
    const rest = await server.api<{ message: { seq: number }; duplicate: boolean }>(
      `/api/rooms/${dmId}/messages`,
      { user: alice, body: { clientMsgId: 'retry-1', body: 'once' } },
    );
    assert.equal(rest.status, 200);
    assert.equal(rest.body.duplicate, true);
    assert.equal(rest.body.message.seq, first['seq']);
    const conflict = await sendAndAck(a, dmId, 'retry-1', 'a different body');
    assert.equal(conflict.type, 'error');
    assert.equal(conflict['code'], 'idempotency_conflict');
    a.close();
  });

  it('stores a send retried after the connection dropped mid-send exactly once', async () => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const clientMsgId = `dropped-${attempt}`;
      const first = await TestSocket.connect(server.wsUrl(alice));
      first.send({ type: 'send', roomId: dmId, clientMsgId, body: 'did it arrive?' });
      // The connection dies before the client could see an ack (if any was sent).
      first.ws.terminate();
      const second = await TestSocket.connect(server.wsUrl(alice));
      const ack = await sendAndAck(second, dmId, clientMsgId, 'did it arrive?');
      assert.equal(ack.type, 'ack');
      const page = await server.api<{ messages: Array<{ clientMsgId: string; seq: number }> }>(
        `/api/rooms/${dmId}/messages?limit=200`,
        { user: alice },
      );
      const copies = page.body.messages.filter((m) => m.clientMsgId === clientMsgId);
      assert.equal(copies.length, 1, 'exactly one message');
      assert.equal(copies[0]!.seq, ack['seq']);
      second.close();
    }
  });

  it('keeps seq dense and gapless under concurrent sends from several connections', async () => {
    const sockets = await Promise.all(
      [alice, alice, bob].map((u) => TestSocket.connect(server.wsUrl(u))),
    );
    const acks = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        sendAndAck(sockets[i % 3]!, dmId, `burst-${i}`, `m${i}`),
      ),
    );
    const seqs = acks.map((ack) => ack['seq'] as number).sort((x, y) => x - y);
    for (let i = 1; i < seqs.length; i++) {
      assert.equal(seqs[i], seqs[i - 1]! + 1, 'seqs must be consecutive');
    }
    const history = await server.api<{ messages: Array<{ seq: number }> }>(
      `/api/rooms/${dmId}/messages?limit=200`,
      { user: bob },
    );
    const all = history.body.messages.map((m) => m.seq);
    assert.deepEqual(
      all,
      Array.from({ length: all.length }, (_, i) => i + 1),
    );
    for (const socket of sockets) {
      socket.close();
    }
  });

  it('keeps tabs, line breaks and emoji in message bodies', async () => {
    const a = await TestSocket.connect(server.wsUrl(alice));
    const body = 'line one\n\tline two 👋🏽';
    const ack = await sendAndAck(a, dmId, 'multiline', body);
    assert.equal((ack['message'] as { body: string }).body, body);
    a.close();
  });

  it('gives two tabs of one user the same live order, equal to seq order and history order', async () => {
    const tab1 = await TestSocket.connect(server.wsUrl(bob));
    const tab2 = await TestSocket.connect(server.wsUrl(bob));
    const a = await TestSocket.connect(server.wsUrl(alice));
    const acks = await Promise.all(
      Array.from({ length: 30 }, (_, i) => sendAndAck(a, dmId, `tabs-${i}`, `t${i}`)),
    );
    const last = Math.max(...acks.map((ack) => ack['seq'] as number));
    for (const tab of [tab1, tab2]) {
      await tab.next((f) => f.type === 'message' && (f['message'] as { seq: number }).seq === last);
    }
    const live1 = msgFrames(tab1, dmId);
    const live2 = msgFrames(tab2, dmId);
    assert.deepEqual(live1, live2);
    assert.deepEqual(
      live1,
      [...live1].sort((x, y) => x - y),
    );
    assert.equal(new Set(live1).size, live1.length, 'no message twice');
    const history = await server.api<{ messages: Array<{ seq: number }> }>(
      `/api/rooms/${dmId}/messages?after=${live1[0]! - 1}&limit=200`,
      { user: bob },
    );
    assert.deepEqual(
      history.body.messages.map((m) => m.seq),
      live1,
    );
    for (const socket of [tab1, tab2, a]) {
      socket.close();
    }
  });

  it('refuses non-members, malformed frames, unknown types, wrong types and lone surrogates with codes', async () => {
    const c = await TestSocket.connect(server.wsUrl(carol));
    const cases: Array<[string | object, string]> = [
      [{ type: 'send', roomId: dmId, clientMsgId: 'intruder', body: 'hi' }, 'not_member'],
      ['{not json', 'invalid_json'],
      [{ type: 'teleport' }, 'unknown_frame'],
      [{ noType: true }, 'unknown_frame'],
      [[1, 2], 'validation_failed'],
      [{ type: 'send', roomId: 42, clientMsgId: 'x', body: 'hi' }, 'validation_failed'],
      [
        { type: 'send', roomId: dmId, clientMsgId: 'lone', body: 'bad \ud800 surrogate' },
        'validation_failed',
      ],
      [
        { type: 'send', roomId: dmId, clientMsgId: 'big', body: 'x'.repeat(4001) },
        'validation_failed',
      ],
      [{ type: 'send', roomId: dmId, clientMsgId: 'empty', body: '' }, 'validation_failed'],
      [{ type: 'send', roomId: dmId, clientMsgId: 'blank', body: ' \n\t ' }, 'validation_failed'],
      [
        { type: 'send', roomId: dmId, clientMsgId: 'bell', body: 'ding \u0007' },
        'validation_failed',
      ],
      [{ type: 'send', roomId: dmId, clientMsgId: 'nul', body: 'a\u0000b' }, 'validation_failed'],
      [{ type: 'sync', cursors: { [dmId]: -1 } }, 'validation_failed'],
      [{ type: 'sync', cursors: JSON.parse('{"__proto__":0}') as object }, 'validation_failed'],
      [{ type: 'sync', cursors: { constructor: 0 } }, 'validation_failed'],
      [{ type: 'sync', cursors: [0] }, 'validation_failed'],
      [{ type: 'typing', roomId: dmId }, 'not_member'],
      [{ type: 'read', roomId: dmId, seq: 1 }, 'not_member'],
    ];
    for (const [frame, code] of cases) {
      const from = c.frames.length;
      c.send(frame);
      const error = await c.next((f) => f.type === 'error', 3000, from);
      assert.equal(error['code'], code, `frame ${JSON.stringify(frame).slice(0, 60)}`);
    }
    // Binary frames are held to UTF-8 as strictly as text frames: the bytes of a lone
    // surrogate are refused, not stored as replacement characters.
    const loneSurrogateBytes = Buffer.concat([
      Buffer.from(`{"type":"send","roomId":"${dmId}","clientMsgId":"binary-lone","body":"a`),
      Buffer.from([0xed, 0xa0, 0x80]),
      Buffer.from('"}'),
    ]);
    const beforeBinary = c.frames.length;
    c.ws.send(loneSurrogateBytes, { binary: true });
    const binaryError = await c.next((f) => f.type === 'error', 3000, beforeBinary);
    assert.equal(binaryError['code'], 'validation_failed');
    c.ws.send(Buffer.from(JSON.stringify({ type: 'ping', ref: 'binary-ping' })), { binary: true });
    assert.equal((await c.nextNew('pong'))['ref'], 'binary-ping');
    // Still usable afterwards.
    c.send({ type: 'ping', ref: 'p1' });
    const pong = await c.nextNew('pong');
    assert.equal(pong['ref'], 'p1');
    c.close();
  });

  it('closes a socket that sends a frame over 64 KiB with 1009, without harming others', async () => {
    const c = await TestSocket.connect(server.wsUrl(carol));
    const other = await TestSocket.connect(server.wsUrl(carol));
    c.send('x'.repeat(65 * 1024));
    const closed = await c.waitClose();
    assert.equal(closed.code, 1009);
    other.send({ type: 'ping' });
    await other.nextNew('pong');
    other.close();
  });

  it('rate-limits a flood of sends with rate_limited errors and keeps the connection', async () => {
    const group = await server.api<{ room: { id: string } }>('/api/rooms', {
      user: carol,
      body: { name: 'flood', memberIds: [] },
    });
    const roomId = group.body.room.id;
    const c = await TestSocket.connect(server.wsUrl(carol));
    for (let i = 0; i < 90; i++) {
      c.send({ type: 'send', roomId, clientMsgId: `flood-${i}`, body: 'spam' });
    }
    await c.next((f) => f.type === 'error' && f['code'] === 'rate_limited');
    const acked = c.ofType('ack').length;
    assert.ok(acked <= 90);
    c.close();
  });
});

describe('sync, typing, read markers, membership and presence', () => {
  it('replays everything after the cursor in pages, in order, and says when a room is complete', async () => {
    const group = await server.api<{ room: { id: string } }>('/api/rooms', {
      user: alice,
      body: { name: 'sync room', memberIds: [bob.userId] },
    });
    const roomId = group.body.room.id;
    for (let i = 1; i <= 25; i++) {
      await server.services.messaging.send(alice.userId, roomId, `sync-${i}`, `s${i}`);
    }
    const b = await TestSocket.connect(server.wsUrl(bob, '&sync=1'));
    b.send({ type: 'sync', cursors: { [roomId]: 5 }, limit: 10, ref: 'page1' });
    const first = await b.next((f) => f.type === 'synced' && f['ref'] === 'page1');
    assert.deepEqual((first['rooms'] as Record<string, unknown>)[roomId], {
      lastSeq: 15,
      complete: false,
    });
    b.send({ type: 'sync', cursors: { [roomId]: 15 }, limit: 10, ref: 'page2' });
    const second = await b.next((f) => f.type === 'synced' && f['ref'] === 'page2');
    assert.deepEqual((second['rooms'] as Record<string, unknown>)[roomId], {
      lastSeq: 25,
      complete: true,
    });
    assert.deepEqual(
      msgFrames(b, roomId),
      Array.from({ length: 20 }, (_, i) => i + 6),
    );

    // Live messages continue the same ascending run after the sync.
    await server.services.messaging.send(alice.userId, roomId, 'sync-live', 'after sync');
    await b.next((f) => f.type === 'message' && (f['message'] as { seq: number }).seq === 26);
    assert.deepEqual(
      msgFrames(b, roomId),
      Array.from({ length: 21 }, (_, i) => i + 6),
    );

    // A room the user is not in is denied, not leaked.
    b.send({ type: 'sync', cursors: { '00000000-0000-7000-8000-000000000000': 0 }, ref: 'deny' });
    const denied = await b.next((f) => f.type === 'synced' && f['ref'] === 'deny');
    assert.deepEqual(denied['denied'], ['00000000-0000-7000-8000-000000000000']);
    b.close();
  });

  it('holds live messages of a connection opened with sync=1 until its sync reply is done', async () => {
    const group = await server.api<{ room: { id: string } }>('/api/rooms', {
      user: alice,
      body: { name: 'hold room', memberIds: [bob.userId] },
    });
    const roomId = group.body.room.id;
    for (let i = 1; i <= 3; i++) {
      await server.services.messaging.send(alice.userId, roomId, `hold-${i}`, `h${i}`);
    }
    const b = await TestSocket.connect(server.wsUrl(bob, '&sync=1'));
    // Sent after connecting but before the client syncs: must not overtake the replay.
    await server.services.messaging.send(alice.userId, roomId, 'hold-4', 'h4');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(msgFrames(b, roomId), []);
    b.send({ type: 'sync', cursors: { [roomId]: 0 }, ref: 'hold' });
    await b.next((f) => f.type === 'synced' && f['ref'] === 'hold');
    await b.next((f) => f.type === 'message' && (f['message'] as { seq: number }).seq === 4);
    assert.deepEqual(msgFrames(b, roomId), [1, 2, 3, 4]);
    b.close();
  });

  it('sends typing to the other members only, and read markers to every member connection', async () => {
    const a = await TestSocket.connect(server.wsUrl(alice));
    const a2 = await TestSocket.connect(server.wsUrl(alice));
    const b = await TestSocket.connect(server.wsUrl(bob));
    a.send({ type: 'typing', roomId: dmId });
    const typing = await b.nextNew('typing');
    assert.deepEqual(
      { roomId: typing['roomId'], userId: typing['userId'] },
      { roomId: dmId, userId: alice.userId },
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(a2.ofType('typing').length, 0, 'typing is not echoed to the typist');

    const ack = await sendAndAck(a, dmId, 'read-me', 'read me');
    const seq = ack['seq'] as number;
    const before = await server.api<{
      rooms: Array<{ id: string; unread: number; lastSeq: number }>;
    }>('/api/rooms', { user: bob });
    const beforeRoom = before.body.rooms.find((r) => r.id === dmId)!;
    assert.ok(beforeRoom.unread > 0);
    b.send({ type: 'read', roomId: dmId, seq });
    for (const socket of [a, a2, b]) {
      const read = await socket.next(
        (f) => f.type === 'read' && f['userId'] === bob.userId && f['seq'] === seq,
      );
      assert.equal(read['roomId'], dmId);
    }
    const afterRead = await server.api<{
      rooms: Array<{ id: string; unread: number; readSeq: number }>;
    }>('/api/rooms', { user: bob });
    const room = afterRead.body.rooms.find((r) => r.id === dmId)!;
    assert.equal(room.unread, 0);
    assert.equal(room.readSeq, seq);
    // Markers never move back.
    b.send({ type: 'read', roomId: dmId, seq: 1 });
    await b.next((f) => f.type === 'read' && f['seq'] === seq, 3000, b.frames.length);
    for (const socket of [a, a2, b]) {
      socket.close();
    }
  });

  it('stops a removed member receiving the room at once', async () => {
    const group = await server.api<{ room: { id: string } }>('/api/rooms', {
      user: alice,
      body: { name: 'removal', memberIds: [bob.userId, carol.userId] },
    });
    const roomId = group.body.room.id;
    const c = await TestSocket.connect(server.wsUrl(carol));
    const a = await TestSocket.connect(server.wsUrl(alice));
    await sendAndAck(a, roomId, 'before-removal', 'visible');
    await c.next(
      (f) => f.type === 'message' && (f['message'] as { roomId: string }).roomId === roomId,
    );
    const removed = await server.api(`/api/rooms/${roomId}/members/${carol.userId}`, {
      user: alice,
      method: 'DELETE',
    });
    assert.equal(removed.status, 200);
    await c.next((f) => f.type === 'room_removed' && f['roomId'] === roomId);
    await sendAndAck(a, roomId, 'after-removal', 'secret');
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.deepEqual(msgFrames(c, roomId), [1]);
    const history = await server.api<{ error: { code: string } }>(`/api/rooms/${roomId}/messages`, {
      user: carol,
    });
    assert.equal(history.body.error.code, 'not_member');
    a.close();
    c.close();
  });

  it('tells DM partners when a user comes online and goes offline', async () => {
    const dave = await registerUser(server.services);
    const erin = await registerUser(server.services);
    const room = await openDm(dave, erin);
    // A DM shares presence once its user wrote in it.
    await server.services.messaging.send(dave.userId, room, 'presence-hello', 'hello');
    await server.services.rooms.markSent(room, dave.userId, 1);
    const e = await TestSocket.connect(server.wsUrl(erin));
    const d1 = await TestSocket.connect(server.wsUrl(dave));
    const online = await e.next((f) => f.type === 'presence' && f['userId'] === dave.userId);
    assert.equal(online['status'], 'online');
    const d2 = await TestSocket.connect(server.wsUrl(dave));
    d1.close();
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(
      e.ofType('presence').filter((f) => f['userId'] === dave.userId && f['status'] === 'offline')
        .length,
      0,
      'still online through the second connection',
    );
    d2.close();
    const offline = await e.next(
      (f) => f.type === 'presence' && f['userId'] === dave.userId && f['status'] === 'offline',
    );
    assert.equal(typeof offline['lastSeenAt'], 'string');
    e.close();
  });
});

describe('sessions on sockets', () => {
  it('closes the sockets of a login within 1 s of logout, with 4003, and leaves other logins open', async () => {
    const login = await server.api<{ accessToken: string; refreshToken: string }>(
      '/api/auth/login',
      {
        body: { username: alice.username, password: 'correct horse battery' },
      },
    );
    assert.equal(login.status, 200);
    const session = { ...alice, ...login.body };
    const doomed = await TestSocket.connect(server.wsUrl(session));
    const other = await TestSocket.connect(server.wsUrl(alice));
    const started = Date.now();
    const out = await server.api('/api/auth/logout', {
      body: { refreshToken: session.refreshToken },
    });
    assert.equal(out.status, 200);
    const closed = await doomed.waitClose(1000);
    assert.equal(closed.code, 4003);
    assert.ok(Date.now() - started < 1000);
    other.send({ type: 'ping' });
    await other.nextNew('pong');
    // The logged-out token no longer opens sockets or calls APIs.
    await assert.rejects(
      TestSocket.open(server.wsUrl(session)),
      (e: { status: number }) => e.status === 401,
    );
    const me = await server.api<{ error: { code: string } }>('/api/me', { user: session });
    assert.equal(me.body.error.code, 'token_revoked');
    other.close();
  });

  it('closes a socket when its token expires with 4001, unless it re-authenticates in-band', async () => {
    const { SignJWT: Sign } = await import('jose');
    const { keys } = server.services;
    const sessionId = (await server.services.sessions.start(alice.userId)).sessionId;
    const shortLived = (seconds: number) =>
      new Sign({ sid: sessionId })
        .setProtectedHeader({ alg: 'ES256', kid: keys.kid, typ: 'at+jwt' })
        .setIssuer('atlas')
        .setAudience('atlas')
        .setSubject(alice.userId)
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + seconds)
        .sign(keys.privateKey);
    const expiring = await TestSocket.connect(
      server.wsUrl({ ...alice, accessToken: await shortLived(2) }),
    );
    const renewed = await TestSocket.connect(
      server.wsUrl({ ...alice, accessToken: await shortLived(2) }),
    );
    renewed.send({ type: 'auth', accessToken: await shortLived(60), ref: 'renew' });
    const authed = await renewed.next((f) => f.type === 'authed');
    assert.equal(authed['ref'], 'renew');
    const closed = await expiring.waitClose(4000);
    assert.equal(closed.code, 4001);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(renewed.closed, undefined);
    renewed.send({ type: 'auth', accessToken: bob.accessToken, ref: 'other-user' });
    const refused = await renewed.next((f) => f.type === 'error' && f['ref'] === 'other-user');
    assert.equal(refused['code'], 'forbidden');
    renewed.close();
  });
});

describe('read state in the REST views', () => {
  it("counts nothing a user sent as unread for them and shows every member's read marker", async () => {
    const group = await server.api<{ room: { id: string } }>('/api/rooms', {
      user: alice,
      body: { name: 'receipts', memberIds: [bob.userId] },
    });
    const roomId = group.body.room.id;
    for (let i = 0; i < 3; i++) {
      await server.api(`/api/rooms/${roomId}/messages`, {
        user: alice,
        body: { clientMsgId: `own-${i}`, body: `own ${i}` },
      });
    }
    await server.api(`/api/rooms/${roomId}/read`, { user: bob, body: { seq: 2 } });
    let mine: { unread: number; readSeq: number } | undefined;
    for (let attempt = 0; attempt < 50; attempt++) {
      const list = await server.api<{
        rooms: Array<{ id: string; unread: number; readSeq: number }>;
      }>('/api/rooms', { user: alice });
      mine = list.body.rooms.find((r) => r.id === roomId);
      if (mine?.unread === 0) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual({ unread: mine?.unread, readSeq: mine?.readSeq }, { unread: 0, readSeq: 3 });
    const detail = await server.api<{ room: { members: Array<{ id: string; readSeq: number }> } }>(
      `/api/rooms/${roomId}`,
      { user: alice },
    );
    const markers = Object.fromEntries(detail.body.room.members.map((m) => [m.id, m.readSeq]));
    assert.deepEqual(markers, { [alice.userId]: 3, [bob.userId]: 2 });
  });
});

describe('frames sent before the hello', () => {
  it('answers a sync sent the instant the socket opens as if it came after set-up', async () => {
    const socket = await TestSocket.open(server.wsUrl(alice));
    socket.send({ type: 'sync', cursors: { [dmId]: 0 }, limit: 1, ref: 'early' });
    const synced = await socket.next((f) => f.type === 'synced' && f['ref'] === 'early');
    assert.deepEqual(synced['denied'], []);
    assert.equal((synced['rooms'] as Record<string, { lastSeq: number }>)[dmId]?.lastSeq, 1);
    socket.close();
  });
});

describe('metrics', () => {
  it('exports what the node did in Prometheus text at /metrics', async () => {
    const before = await scrape();
    const a = await TestSocket.connect(server.wsUrl(alice));
    const b = await TestSocket.connect(server.wsUrl(bob));
    await sendAndAck(a, dmId, 'metrics-1', 'counted');
    await sendAndAck(a, dmId, 'metrics-1', 'counted');
    await b.next(
      (f) =>
        f.type === 'message' &&
        (f['message'] as { clientMsgId: string }).clientMsgId === 'metrics-1',
    );
    await assert.rejects(TestSocket.open(`${server.url.replace('http', 'ws')}/ws`));
    const after = await scrape();
    const grew = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    assert.equal(grew('atlas_messages_accepted_total'), 1);
    assert.equal(grew('atlas_dedupe_hits_total'), 1);
    assert.ok(grew('atlas_ws_deliveries_total') >= 2, 'to bob and back to alice');
    assert.equal(grew('atlas_ws_upgrades_refused_total{code="unauthorized"}'), 1);
    assert.ok((after.get('atlas_ws_connections') ?? 0) >= 2);
    assert.ok((after.get('atlas_fanout_seconds_count') ?? 0) >= 1);
    a.close();
    b.close();
  });
});

async function scrape(): Promise<Map<string, number>> {
  const response = await fetch(`${server.url}/metrics`);
  assert.equal(response.status, 200);
  const values = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    const match = /^(\S+) (\S+)$/.exec(line);
    if (match?.[1] && match[2] && !line.startsWith('#')) {
      values.set(match[1], Number(match[2]));
    }
  }
  return values;
}
