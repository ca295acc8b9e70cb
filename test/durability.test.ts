import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { tempDir } from './support/services.ts';
import { startServerProcess, type ServerProcess } from './support/process.ts';
import { TestSocket } from './support/ws-client.ts';

interface Session {
  user: { id: string };
  accessToken: string;
  refreshToken: string;
}

let dataDir: string;
let server: ServerProcess;

async function call<T>(
  path: string,
  init: { token?: string; body?: unknown; method?: string } = {},
) {
  const response = await fetch(`${server.url}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      'content-type': 'application/json',
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  return { status: response.status, body: (await response.json()) as T };
}

const PASSWORD = 'a long enough password';

before(async () => {
  dataDir = await tempDir('atlas-durability-');
  server = await startServerProcess({ ATLAS_DATA_DIR: dataDir });
});

after(async () => {
  await server.kill('SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
});

describe('a server killed with SIGKILL', () => {
  it('keeps every acked message, unread count and friendship, and continues the sequence', async () => {
    const alice = (
      await call<Session>('/api/auth/register', {
        body: { username: 'dur_alice', password: PASSWORD },
      })
    ).body;
    const bob = (
      await call<Session>('/api/auth/register', {
        body: { username: 'dur_bob', password: PASSWORD },
      })
    ).body;
    assert.equal(
      (
        await call('/api/me/friend-requests', {
          token: alice.accessToken,
          body: { userId: bob.user.id },
        })
      ).status,
      201,
    );
    assert.equal(
      (
        await call(`/api/me/friend-requests/${alice.user.id}/accept`, {
          token: bob.accessToken,
          body: {},
        })
      ).status,
      200,
    );
    const dm = (
      await call<{ room: { id: string } }>('/api/dms', {
        token: alice.accessToken,
        body: { userId: bob.user.id },
      })
    ).body.room;

    for (let i = 0; i < 10; i++) {
      await call(`/api/rooms/${dm.id}/messages`, {
        token: alice.accessToken,
        body: { clientMsgId: `rest-${i}`, body: `rest ${i}` },
      });
    }
    await call(`/api/rooms/${dm.id}/read`, { token: bob.accessToken, body: { seq: 4 } });

    // Sends in flight on five sockets when the process is killed: whatever was acked must survive.
    const wsUrl = `${server.url.replace('http', 'ws')}/ws?access_token=${alice.accessToken}`;
    const sockets = await Promise.all(Array.from({ length: 5 }, () => TestSocket.connect(wsUrl)));
    sockets.forEach((socket, s) => {
      for (let i = 0; i < 40; i++) {
        socket.send({
          type: 'send',
          roomId: dm.id,
          clientMsgId: `ws-${s}-${i}`,
          body: `ws ${s} ${i}`,
        });
      }
    });
    const ackCount = () => sockets.reduce((n, socket) => n + socket.ofType('ack').length, 0);
    const deadline = Date.now() + 10_000;
    while (ackCount() < 30 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await server.kill('SIGKILL');
    const acked = sockets.flatMap((socket) => socket.ofType('ack').map((f) => f['seq'] as number));
    assert.ok(acked.length >= 30, `acks before the kill: ${acked.length}`);

    server = await startServerProcess({ ATLAS_DATA_DIR: dataDir });
    const relogin = (
      await call<Session>('/api/auth/login', { body: { username: 'dur_bob', password: PASSWORD } })
    ).body;
    const messages: Array<{ seq: number; clientMsgId: string }> = [];
    for (;;) {
      const page = await call<{
        messages: Array<{ seq: number; clientMsgId: string }>;
        hasMore: boolean;
      }>(`/api/rooms/${dm.id}/messages?after=${messages.length}&limit=200`, {
        token: relogin.accessToken,
      });
      messages.push(...page.body.messages);
      if (!page.body.hasMore) {
        break;
      }
    }
    const history = { body: { messages } };
    const seqs = history.body.messages.map((m) => m.seq);
    assert.deepEqual(
      seqs,
      Array.from({ length: seqs.length }, (_, i) => i + 1),
      'dense and gapless',
    );
    for (const seq of acked) {
      assert.ok(seqs.includes(seq), `acked seq ${seq} survived`);
    }
    assert.equal(
      new Set(history.body.messages.map((m) => m.clientMsgId)).size,
      seqs.length,
      'no duplicates',
    );

    const rooms = await call<{ rooms: Array<{ id: string; unread: number; lastSeq: number }> }>(
      '/api/rooms',
      { token: relogin.accessToken },
    );
    const room = rooms.body.rooms.find((r) => r.id === dm.id)!;
    assert.equal(room.lastSeq, seqs.length);
    assert.equal(room.unread, seqs.length - 4);
    const friends = await call<{ friends: Array<{ id: string }> }>('/api/me/friends', {
      token: relogin.accessToken,
    });
    assert.deepEqual(
      friends.body.friends.map((f) => f.id),
      [alice.user.id],
    );

    const aliceAgain = (
      await call<Session>('/api/auth/login', {
        body: { username: 'dur_alice', password: PASSWORD },
      })
    ).body;
    const next = await call<{ message: { seq: number } }>(`/api/rooms/${dm.id}/messages`, {
      token: aliceAgain.accessToken,
      body: { clientMsgId: 'after-restart', body: 'still here' },
    });
    assert.equal(next.body.message.seq, seqs.length + 1);
    // A send retried after the crash is recognised, not stored twice.
    const retried = await call<{ message: { seq: number }; duplicate: boolean }>(
      `/api/rooms/${dm.id}/messages`,
      {
        token: aliceAgain.accessToken,
        body: { clientMsgId: 'rest-3', body: 'rest 3' },
      },
    );
    assert.equal(retried.body.duplicate, true);
    assert.equal(retried.body.message.seq, 4);
  });

  it('refuses a second process on the same data directory, and the first keeps its sequence', async () => {
    const owner = (
      await call<Session>('/api/auth/register', {
        body: { username: 'dur_dave', password: PASSWORD },
      })
    ).body;
    const room = await call<{ room: { id: string } }>('/api/rooms', {
      token: owner.accessToken,
      body: { name: 'one writer', memberIds: [] },
    });
    assert.equal(room.status, 201);
    const send = (clientMsgId: string) =>
      call<{ message: { seq: number } }>(`/api/rooms/${room.body.room.id}/messages`, {
        token: owner.accessToken,
        body: { clientMsgId, body: clientMsgId },
      });
    assert.equal((await send('before-the-second')).body.message.seq, 1);

    // The second process is a different port on the same files: it must not open them.
    const second = spawn(process.execPath, ['--import', 'tsx', 'shared/server/main.ts'], {
      env: { ...process.env, PORT: '0', LOG_LEVEL: 'warn', ATLAS_DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    second.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    second.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exitCode = await new Promise<number | null>((resolve) => second.once('exit', resolve));
    assert.equal(exitCode, 1, output);
    assert.match(
      output,
      /^ATLAS could not start: data directory .* is in use by another ATLAS process/m,
    );
    assert.doesNotMatch(output, /ATLAS listening/);
    assert.doesNotMatch(output, /\n\s+at /, 'one line, no stack trace');

    assert.equal((await send('after-the-second')).body.message.seq, 2);
  });

  it('closes sockets with 1001 "going away" on SIGTERM and exits cleanly', async () => {
    const user = (
      await call<Session>('/api/auth/register', {
        body: { username: 'dur_carol', password: PASSWORD },
      })
    ).body;
    const socket = await TestSocket.connect(
      `${server.url.replace('http', 'ws')}/ws?access_token=${user.accessToken}`,
    );
    const exit = server.kill('SIGTERM');
    const closed = await socket.waitClose(10_000);
    assert.equal(closed.code, 1001);
    assert.equal(await exit, 0);
    server = await startServerProcess({ ATLAS_DATA_DIR: dataDir });
    const login = await call<Session>('/api/auth/login', {
      body: { username: 'dur_carol', password: PASSWORD },
    });
    assert.equal(login.status, 200);
  });
});
