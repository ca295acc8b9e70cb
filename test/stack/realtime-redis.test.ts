import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.ts';
import { registerUser, type TestUser } from '../support/services.ts';
import { TestSocket } from '../support/ws-client.ts';
import { DATABASE_URL } from './support/env.ts';
import { createTestSchema, type TestSchema } from './support/postgres.ts';
import { startPrivateRedis, type PrivateRedis } from './support/redis-server.ts';

let schema: TestSchema;
let redis: PrivateRedis;
let server: TestServer;
let alice: TestUser;
let bob: TestUser;
let roomId: string;

before(async () => {
  schema = await createTestSchema(DATABASE_URL);
  redis = await startPrivateRedis();
  server = await startTestServer({ DATABASE_URL: schema.url, REDIS_URL: redis.url });
  alice = await registerUser(server.services);
  bob = await registerUser(server.services);
  const dm = await server.api<{ room: { id: string } }>('/api/dms', {
    user: alice,
    body: { userId: bob.userId },
  });
  roomId = dm.body.room.id;
});

after(async () => {
  await server?.dispose();
  await redis?.dispose();
  await schema?.drop();
});

const seqsOf = (socket: TestSocket) =>
  socket
    .ofType('message')
    .map((f) => f['message'] as { seq: number; roomId: string })
    .filter((m) => m.roomId === roomId)
    .map((m) => m.seq);

describe('the realtime node on PostgreSQL and Redis', () => {
  it('delivers live over Redis pub/sub, and after a Redis crash catches up and resumes by itself', async () => {
    const a = await TestSocket.connect(server.wsUrl(alice));
    const b = await TestSocket.connect(server.wsUrl(bob));
    const acked: number[] = [];
    const send = async (id: string) => {
      const from = a.frames.length;
      a.send({ type: 'send', roomId, clientMsgId: id, body: id });
      const reply = await a.next(
        (f) =>
          (f.type === 'ack' || f.type === 'error') && (f['clientMsgId'] === id || f['ref'] === id),
        10_000,
        from,
      );
      if (reply.type === 'ack') {
        acked.push(reply['seq'] as number);
      } else {
        assert.equal(reply['code'], 'unavailable', 'a refused send says why, retryably');
      }
    };
    for (let i = 0; i < 5; i++) {
      await send(`before-${i}`);
    }
    await b.next((f) => f.type === 'message' && (f['message'] as { seq: number }).seq === 5);

    await redis.kill();
    for (let i = 0; i < 5; i++) {
      await send(`during-${i}`);
    }
    assert.equal(acked.length, 10, 'sends go on without Redis: the cache and limits are optional');
    await redis.start();
    // Nothing was asked of the client: the node resubscribes and fills the gap from the store.
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && Math.max(0, ...seqsOf(b)) < Math.max(...acked)) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (let i = 0; i < 3; i++) {
      await send(`after-${i}`);
    }
    const last = Math.max(...acked);
    await b.next(
      (f) => f.type === 'message' && (f['message'] as { seq: number }).seq === last,
      10_000,
    );
    const live = seqsOf(b);
    assert.deepEqual(
      live,
      Array.from({ length: last }, (_, i) => i + 1),
      'every acked message, in order, once',
    );
    a.close();
    b.close();
  });
});
