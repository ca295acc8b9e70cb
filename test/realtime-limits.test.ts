import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './support/server.ts';
import { registerUser, type TestUser } from './support/services.ts';
import { TestSocket } from './support/ws-client.ts';

let server: TestServer;
let alice: TestUser;
let bob: TestUser;
let roomId: string;

before(async () => {
  server = await startTestServer({
    ATLAS_MAX_CONNECTIONS: '6',
    ATLAS_MAX_CONNECTIONS_PER_USER: '4',
    ATLAS_MAX_SOCKET_BUFFER_BYTES: String(256 * 1024),
  });
  alice = await registerUser(server.services);
  bob = await registerUser(server.services);
  const dm = await server.api<{ room: { id: string } }>('/api/dms', {
    user: alice,
    body: { userId: bob.userId },
  });
  roomId = dm.body.room.id;
});

after(async () => {
  await server.dispose();
});

describe('node limits', () => {
  it('closes a client that stops reading with 4008 instead of buffering without bound, and it resumes by sync', async () => {
    const reader = await TestSocket.connect(server.wsUrl(bob));
    // Stop reading: the kernel buffers fill, then the server's queue for this socket grows.
    const raw = (reader.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    raw.pause();
    const body = 'x'.repeat(4000);
    let sent = 0;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && sent < 8000) {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          server.services.messaging.send(alice.userId, roomId, `pour-${sent + i}`, body),
        ),
      );
      sent += 100;
      const connections = [...server.realtime.hub.connectionsOf(bob.userId)];
      if (connections.length === 0 || connections.every((c) => c.closing)) {
        break;
      }
    }
    const connections = [...server.realtime.hub.connectionsOf(bob.userId)];
    assert.ok(
      connections.every((c) => c.closing),
      `the slow socket must be closed (sent ${sent})`,
    );
    raw.resume();
    const closed = await reader.waitClose(10_000);
    assert.equal(closed.code, 4008);
    const seen = reader.ofType('message').map((f) => (f['message'] as { seq: number }).seq);
    const cursor = seen.length > 0 ? Math.max(...seen) : 0;
    assert.ok(cursor < sent, 'it was cut off before everything was delivered');

    // Reconnect and resume: everything after the last seq it saw arrives, once, in order.
    const again = await TestSocket.connect(server.wsUrl(bob, '&sync=1'));
    let lastSeq = cursor;
    for (let page = 0; page < 100; page++) {
      again.send({ type: 'sync', cursors: { [roomId]: lastSeq }, limit: 500, ref: `p${page}` });
      const synced = await again.next(
        (f) => f.type === 'synced' && f['ref'] === `p${page}`,
        10_000,
      );
      const state = (synced['rooms'] as Record<string, { lastSeq: number; complete: boolean }>)[
        roomId
      ]!;
      lastSeq = state.lastSeq;
      if (state.complete) {
        break;
      }
    }
    const replayed = again.ofType('message').map((f) => (f['message'] as { seq: number }).seq);
    assert.deepEqual(
      replayed,
      Array.from({ length: sent - cursor }, (_, i) => cursor + i + 1),
    );
    again.close();
  });

  it('refuses upgrades beyond the connection cap with 503 over_capacity and serves the rest', async () => {
    const open: TestSocket[] = [];
    for (let i = 0; i < 6; i++) {
      open.push(await TestSocket.connect(server.wsUrl(i % 2 ? alice : bob)));
    }
    await assert.rejects(
      TestSocket.open(server.wsUrl(alice)),
      (error: { status: number; body: string }) =>
        error.status === 503 && JSON.parse(error.body).error.code === 'over_capacity',
    );
    open[0]!.send({ type: 'ping' });
    await open[0]!.nextNew('pong');
    open.pop()!.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const admitted = await TestSocket.connect(server.wsUrl(alice));
    admitted.close();
    for (const socket of open) {
      socket.close();
    }
  });

  it('refuses one user more than their share of sockets with 429 too_many_connections', async () => {
    // Sockets closed by the previous test leave the node asynchronously.
    while (server.realtime.hub.connectionCount > 0) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const mine: TestSocket[] = [];
    for (let i = 0; i < 4; i++) {
      mine.push(await TestSocket.connect(server.wsUrl(alice)));
    }
    await assert.rejects(
      TestSocket.open(server.wsUrl(alice)),
      (error: { status: number; body: string }) =>
        error.status === 429 && JSON.parse(error.body).error.code === 'too_many_connections',
    );
    const other = await TestSocket.connect(server.wsUrl(bob));
    other.close();
    for (const socket of mine) {
      socket.close();
    }
  });

  it('answers a body that is not JSON by its content type with 415 unsupported_media_type', async () => {
    const response = await fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ username: 'x', password: 'y' }),
    });
    assert.equal(response.status, 415);
    const body = (await response.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'unsupported_media_type');
  });

  it('answers oversize HTTP bodies with 413 payload_too_large and huge headers with 431', async () => {
    const big = await server.api<{ error: { code: string } }>(`/api/rooms/${roomId}/messages`, {
      user: alice,
      body: JSON.stringify({ clientMsgId: 'big', body: 'x'.repeat(70 * 1024) }),
    });
    assert.equal(big.status, 413);
    assert.equal(big.body.error.code, 'payload_too_large');
    const response = await fetch(`${server.url}/api/me`, {
      headers: { 'x-filler': 'y'.repeat(20 * 1024) },
    });
    assert.equal(response.status, 431);
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
  });
});
