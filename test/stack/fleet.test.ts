import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServerProcess, type ServerProcess } from '../support/process.ts';
import { callApi, type ApiCall } from '../support/server.ts';
import { TestSocket, type Frame } from '../support/ws-client.ts';
import {
  CASSANDRA_CONTACT,
  CASSANDRA_DC,
  dropKeyspaces,
  runKeyspace,
  startTcpProxy,
} from './support/cassandra.ts';
import { DATABASE_URL } from './support/env.ts';
import { KAFKA_BROKERS, KAFKA_RUN, topicJanitor } from './support/kafka.ts';
import { createTestSchema, type TestSchema } from './support/postgres.ts';
import { startPrivateRedis, type PrivateRedis } from './support/redis-server.ts';

/**
 * Two server processes on the same PostgreSQL, Redis, Kafka and Cassandra, as a fleet runs:
 * users on different nodes write into one room at once.
 */

const PRESENCE_TTL_MS = 3_000;

interface User {
  id: string;
  accessToken: string;
}

interface Message {
  seq: number;
  clientMsgId: string;
  roomId: string;
  body: string;
}

let schema: TestSchema;
let redis: PrivateRedis;
let dataDir: string;
const topics = topicJanitor();
const keyspace = runKeyspace('fleet');
const nodes: ServerProcess[] = [];

function call<T>(
  node: ServerProcess,
  path: string,
  init: ApiCall = {},
): Promise<{ status: number; body: T }> {
  return callApi<T>(node.url, path, init);
}

async function register(node: ServerProcess, name: string): Promise<User> {
  const reply = await call<{ user: { id: string }; accessToken: string }>(
    node,
    '/api/auth/register',
    { body: { username: `${name}${Date.now().toString(36)}`, password: 'correct horse battery' } },
  );
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
  return { id: reply.body.user.id, accessToken: reply.body.accessToken };
}

function connect(node: ServerProcess, user: User): Promise<TestSocket> {
  const url = `${node.url.replace('http', 'ws')}/ws?access_token=${encodeURIComponent(user.accessToken)}`;
  return TestSocket.open(url);
}

const messagesIn = (socket: TestSocket, roomId: string): Message[] =>
  socket
    .ofType('message')
    .map((frame) => frame['message'] as Message)
    .filter((message) => message.roomId === roomId);

async function history(node: ServerProcess, user: User, roomId: string): Promise<Message[]> {
  const all: Message[] = [];
  let after = 0;
  for (;;) {
    const page = await call<{ messages: Message[]; hasMore: boolean }>(
      node,
      `/api/rooms/${roomId}/messages?after=${after}&limit=200`,
      { user },
    );
    assert.equal(page.status, 200);
    all.push(...page.body.messages);
    if (!page.body.hasMore) {
      return all;
    }
    after = all.at(-1)?.seq ?? after;
  }
}

before(async () => {
  schema = await createTestSchema(DATABASE_URL);
  redis = await startPrivateRedis();
  dataDir = await mkdtemp(join(tmpdir(), 'atlas-fleet-'));
  const env = {
    DATABASE_URL: schema.url,
    REDIS_URL: redis.url,
    KAFKA_BROKERS: KAFKA_BROKERS.join(','),
    KAFKA_TOPIC: topics.track(`${KAFKA_RUN}-fleet`),
    KAFKA_PARTITIONS: '3',
    CASSANDRA_CONTACT_POINTS: CASSANDRA_CONTACT,
    CASSANDRA_DATACENTER: CASSANDRA_DC,
    CASSANDRA_KEYSPACE: keyspace,
    // Shared, so both nodes sign and verify with the key the first one created.
    ATLAS_DATA_DIR: dataDir,
    ATLAS_PRESENCE_TTL_MS: String(PRESENCE_TTL_MS),
  };
  // One after the other: the first creates the signing key, the topic and the keyspace. Only
  // the first persists; the second sequences without a persisting consumer of its own.
  nodes.push(await startServerProcess(env, 120_000));
  nodes.push(await startServerProcess(env, 120_000, ['auth', 'users', 'chat', 'realtime']));
});

after(async () => {
  await Promise.all(nodes.map((node) => node.kill('SIGTERM')));
  await redis?.dispose();
  await schema?.drop();
  await topics.sweep().catch(() => undefined);
  await dropKeyspaces([keyspace]).catch(() => undefined);
  await rm(dataDir, { recursive: true, force: true });
});

describe('a fleet of two nodes on the real servers', { timeout: 240_000 }, () => {
  it('numbers one room written from both nodes at once: gapless, no repeats, the same everywhere', async () => {
    const [one, two] = nodes as [ServerProcess, ServerProcess];
    const alice = await register(one, 'alice');
    const bob = await register(two, 'bob');
    const dm = await call<{ room: { id: string } }>(two, '/api/dms', {
      user: alice,
      body: { userId: bob.id },
    });
    const roomId = dm.body.room.id;
    const a = await connect(one, alice);
    const b = await connect(two, bob);

    // Within one connection's send burst (40), so every send is acked.
    const perUser = 40;
    const acked = new Map<string, number>();
    async function sendAll(socket: TestSocket, prefix: string): Promise<void> {
      const from = socket.frames.length;
      for (let i = 0; i < perUser; i++) {
        socket.send({
          type: 'send',
          roomId,
          clientMsgId: `${prefix}-${i}`,
          body: `${prefix} ${i}`,
        });
      }
      const isReply = (f: Frame) => f.type === 'ack' || f.type === 'error';
      const deadline = Date.now() + 30_000;
      while (socket.frames.slice(from).filter(isReply).length < perUser) {
        assert.ok(Date.now() < deadline, `${prefix}: every send is answered`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      for (const reply of socket.frames.slice(from).filter(isReply)) {
        assert.equal(reply.type, 'ack', `${prefix}: ${JSON.stringify(reply)}`);
        acked.set(reply['clientMsgId'] as string, reply['seq'] as number);
      }
    }
    // REST sends through both nodes join in, as chat functions would.
    const rest = Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const node = i % 2 === 0 ? one : two;
        const reply = await call<{ message: Message }>(node, `/api/rooms/${roomId}/messages`, {
          user: i % 2 === 0 ? alice : bob,
          body: { clientMsgId: `rest-${i}`, body: `rest ${i}` },
        });
        assert.equal(reply.status, 201, JSON.stringify(reply.body));
        acked.set(`rest-${i}`, reply.body.message.seq);
      }),
    );
    await Promise.all([sendAll(a, 'a'), sendAll(b, 'b'), rest]);

    const total = perUser * 2 + 20;
    const seqs = [...acked.values()].sort((x, y) => x - y);
    assert.deepEqual(
      seqs,
      Array.from({ length: total }, (_, i) => i + 1),
      'acked seqs are exactly 1..n',
    );
    for (const socket of [a, b]) {
      await socket.next(
        (f) => f.type === 'message' && (f['message'] as Message).seq === total,
        20_000,
      );
    }
    const liveA = messagesIn(a, roomId);
    const liveB = messagesIn(b, roomId);
    assert.deepEqual(
      liveA.map((m) => m.seq),
      seqs,
      'node one delivered every message once, in order',
    );
    assert.deepEqual(liveB, liveA, 'both nodes delivered the same messages');
    for (const m of liveA) {
      assert.equal(acked.get(m.clientMsgId), m.seq, `${m.clientMsgId} arrived at its acked seq`);
    }
    const fromOne = await history(one, alice, roomId);
    const fromTwo = await history(two, bob, roomId);
    assert.deepEqual(fromOne, liveA, 'history through node one is what was delivered');
    assert.deepEqual(fromTwo, liveA, 'history through node two is the same');

    // A retry through the other node is recognised.
    const retry = await call<{ message: Message; duplicate: boolean }>(
      two,
      `/api/rooms/${roomId}/messages`,
      { user: alice, body: { clientMsgId: 'a-0', body: 'a 0' } },
    );
    assert.deepEqual([retry.status, retry.body.duplicate], [200, true]);
    assert.equal(retry.body.message.seq, acked.get('a-0'));

    // Typing and presence cross nodes too: alice is on node one, bob on node two.
    a.send({ type: 'typing', roomId });
    const typing = await b.next((f) => f.type === 'typing', 5_000);
    assert.deepEqual([typing['roomId'], typing['userId']], [roomId, alice.id]);
    const aliceIs = (status: string) => (f: Frame) =>
      f.type === 'presence' && f['userId'] === alice.id && f['status'] === status;
    const beforeLeaving = b.frames.length;
    a.close();
    await b.next(aliceIs('offline'), 5_000, beforeLeaving);
    const back = await connect(one, alice);
    await b.next(aliceIs('online'), 5_000, beforeLeaving);
    back.close();
    b.close();
  });

  it('a SIGKILLed node leaves nobody online past the presence TTL; two connections keep one online', async () => {
    const two = nodes[1] as ServerProcess;
    const carol = await register(two, 'carol');
    const dave = await register(two, 'dave');
    // Friends see each other's presence.
    await call(two, '/api/me/friend-requests', { user: carol, body: { userId: dave.id } });
    await call(two, '/api/me/friend-requests', { user: dave, body: { userId: carol.id } });
    const online = async () =>
      (await call<{ user: { online: boolean } }>(two, `/api/users/${carol.id}`, { user: dave }))
        .body.user.online;

    // Carol on both nodes: closing one connection keeps her online.
    const onTwo = await connect(two, carol);
    const third = await startServerProcess(
      {
        DATABASE_URL: schema.url,
        REDIS_URL: redis.url,
        KAFKA_BROKERS: KAFKA_BROKERS.join(','),
        KAFKA_TOPIC: `${KAFKA_RUN}-fleet`,
        CASSANDRA_CONTACT_POINTS: CASSANDRA_CONTACT,
        CASSANDRA_DATACENTER: CASSANDRA_DC,
        CASSANDRA_KEYSPACE: keyspace,
        ATLAS_DATA_DIR: dataDir,
        ATLAS_PRESENCE_TTL_MS: String(PRESENCE_TTL_MS),
      },
      120_000,
      ['realtime'],
    );
    try {
      const onThird = await connect(third, carol);
      assert.equal(await online(), true);
      onTwo.close();
      await new Promise((resolve) => setTimeout(resolve, PRESENCE_TTL_MS + 1_000));
      assert.equal(await online(), true, 'still connected through the third node');

      // Dave watches from node two.
      const watcher = await connect(two, dave);
      const carolOffline = (f: Frame) =>
        f.type === 'presence' && f['userId'] === carol.id && f['status'] === 'offline';
      assert.equal(watcher.frames.filter(carolOffline).length, 0);

      // The third node dies without a word: its connection's presence runs out with the TTL,
      // and a surviving node tells carol's friends.
      const killedAt = Date.now();
      await third.kill('SIGKILL');
      while ((await online()) && Date.now() - killedAt < PRESENCE_TTL_MS * 4) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const tookMs = Date.now() - killedAt;
      assert.equal(await online(), false, 'carol is offline once her last node is gone');
      assert.ok(tookMs <= PRESENCE_TTL_MS + 1_500, `offline after ${tookMs} ms`);
      await watcher.next(carolOffline, PRESENCE_TTL_MS * 2);
      const announcedMs = Date.now() - killedAt;
      assert.ok(
        announcedMs <= PRESENCE_TTL_MS * 2,
        `friends told after ${announcedMs} ms (TTL plus one refresh period)`,
      );
      // Exactly once, although both surviving nodes look for lapsed users.
      await new Promise((resolve) => setTimeout(resolve, PRESENCE_TTL_MS));
      assert.equal(watcher.frames.filter(carolOffline).length, 1);
      watcher.close();
      onThird.close();
    } finally {
      await third.kill('SIGKILL');
    }
  });
});

describe('the message store going away while messages flow', { timeout: 240_000 }, () => {
  it('keeps acking from the log, refuses history meanwhile, and catches up whole when it returns', async (t) => {
    // A node of its own, its Cassandra behind a proxy that the test cuts, and a topic of its own,
    // so that no persisting consumer with a working store writes for it meanwhile.
    const proxy = await startTcpProxy(CASSANDRA_CONTACT);
    t.after(() => proxy.close());
    const node = await startServerProcess(
      {
        DATABASE_URL: schema.url,
        REDIS_URL: redis.url,
        KAFKA_BROKERS: KAFKA_BROKERS.join(','),
        KAFKA_TOPIC: topics.track(`${KAFKA_RUN}-store-outage`),
        CASSANDRA_CONTACT_POINTS: proxy.address,
        CASSANDRA_DATACENTER: CASSANDRA_DC,
        CASSANDRA_KEYSPACE: keyspace,
        ATLAS_DATA_DIR: dataDir,
      },
      120_000,
    );
    t.after(() => node.kill('SIGKILL'));
    const erin = await register(node, 'erin');
    const finn = await register(node, 'finn');
    const dm = await call<{ room: { id: string } }>(node, '/api/dms', {
      user: erin,
      body: { userId: finn.id },
    });
    const roomId = dm.body.room.id;
    const watcher = await connect(node, finn);
    t.after(() => watcher.close());
    const sent = new Map<string, Message>();
    async function sendSome(prefix: string, count: number): Promise<void> {
      for (let i = 0; i < count; i++) {
        const reply = await call<{ message: Message }>(node, `/api/rooms/${roomId}/messages`, {
          user: erin,
          body: { clientMsgId: `${prefix}-${i}`, body: `${prefix} ${i}` },
        });
        assert.equal(reply.status, 201, JSON.stringify(reply.body));
        sent.set(`${prefix}-${i}`, reply.body.message);
      }
    }

    await sendSome('before', 10);
    proxy.cut();
    const cutAt = Date.now();
    await sendSome('during', 30);
    t.diagnostic(`30 sends acked in ${Date.now() - cutAt} ms with the store cut off`);
    // Live delivery does not need the store.
    await watcher.next((f) => f.type === 'message' && (f['message'] as Message).seq === 40, 10_000);
    const meanwhile = await call<{ error: { code: string } }>(
      node,
      `/api/rooms/${roomId}/messages?after=0&limit=100`,
      { user: finn },
    );
    assert.deepEqual([meanwhile.status, meanwhile.body.error.code], [503, 'unavailable']);
    // A retry is still recognised.
    const retry = await call<{ message: Message; duplicate: boolean }>(
      node,
      `/api/rooms/${roomId}/messages`,
      { user: erin, body: { clientMsgId: 'during-7', body: 'during 7' } },
    );
    assert.deepEqual(
      [retry.status, retry.body.duplicate, retry.body.message],
      [200, true, sent.get('during-7')],
    );

    proxy.heal();
    const healedAt = Date.now();
    let stored: Message[];
    for (;;) {
      const page = await call<{ messages: Message[] }>(
        node,
        `/api/rooms/${roomId}/messages?after=0&limit=100`,
        { user: finn },
      );
      if (page.status === 200) {
        stored = page.body.messages;
        break;
      }
      assert.ok(Date.now() - healedAt < 60_000, `history came back: ${JSON.stringify(page.body)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    t.diagnostic(`history whole again ${Date.now() - healedAt} ms after the store returned`);
    assert.deepEqual(
      stored.map((m) => m.seq),
      Array.from({ length: 40 }, (_, i) => i + 1),
      'every acked message, once, in order',
    );
    for (const message of stored) {
      assert.deepEqual(message, sent.get(message.clientMsgId), `${message.clientMsgId} as acked`);
    }
    assert.deepEqual(
      messagesIn(watcher, roomId).map((m) => m.seq),
      stored.map((m) => m.seq),
      'delivered live exactly as stored',
    );
  });
});
