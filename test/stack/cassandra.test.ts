/**
 * The Cassandra message store against a real Cassandra 5: the MessageStore contract the embedded
 * store passes, then what the contract does not reach: paging across bucket boundaries (checked
 * against the embedded room index on random queries), the bucket size guard, and failures while
 * Cassandra is unreachable. Needs `local/services/all.sh up cassandra` (or ATLAS_TEST_CASSANDRA).
 * Keyspaces are this run's own and dropped at the end.
 */
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openCassandraMessageStore } from '../../shared/cassandra/message-store.ts';
import type { CassandraMessageStoreOptions } from '../../shared/cassandra/message-store.ts';
import { withoutFence } from '../../shared/embedded/chat-message.ts';
import { createRoomIndex } from '../../shared/embedded/room-index.ts';
import type {
  ChatMessage,
  NumberedMessage,
  MessageStore,
  PageQuery,
} from '../../shared/ports/messages.ts';
import { chatMessage, rejectsWithCode } from '../contracts/helpers.ts';
import { messageStoreContract } from '../contracts/message-store.contract.ts';
import {
  CASSANDRA_CONTACT,
  CASSANDRA_DC,
  dropKeyspaces,
  namespacedStore,
  runKeyspace,
  startTcpProxy,
} from './support/cassandra.ts';

const contractKeyspace = runKeyspace('contract');
const bucketKeyspace = runKeyspace('b10');
after(async () => {
  await dropKeyspaces([contractKeyspace, bucketKeyspace]);
});

function storeOptions(
  overrides: Partial<CassandraMessageStoreOptions> = {},
): CassandraMessageStoreOptions {
  return {
    contactPoints: [CASSANDRA_CONTACT],
    localDataCenter: CASSANDRA_DC,
    keyspace: contractKeyspace,
    ...overrides,
  };
}

messageStoreContract(
  'cassandra store',
  async (dir) => namespacedStore(await openCassandraMessageStore(storeOptions()), basename(dir)),
  { durable: true },
);

const seqs = (messages: readonly ChatMessage[]) => messages.map((message) => message.seq);
const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('cassandra store across buckets (bucketSize 10, 35 messages)', { timeout: 60_000 }, () => {
  let store: MessageStore;
  const messages = range(1, 35).map((seq) => chatMessage('room-long', seq));

  before(async () => {
    store = await openCassandraMessageStore(
      storeOptions({ keyspace: bucketKeyspace, bucketSize: 10 }),
    );
    // Newest first, in odd batches, so no partition is written in order.
    await store.put([...messages].reverse().slice(0, 17));
    await store.put([...messages].reverse().slice(17));
  });
  after(async () => {
    await store.close();
  });

  it('pages backwards over two, three and four partitions', async () => {
    assert.deepEqual(seqs(await store.page('room-long', { limit: 12 })), range(24, 35));
    assert.deepEqual(seqs(await store.page('room-long', { before: 21, limit: 15 })), range(6, 20));
    assert.deepEqual(seqs(await store.page('room-long', { limit: 100 })), range(1, 35));
    assert.deepEqual(seqs(await store.page('room-long', { before: 20, limit: 1 })), [19]);
    assert.deepEqual(seqs(await store.page('room-long', { before: 10, limit: 1 })), [9]);
  });

  it('pages forwards over partition boundaries, below `before` when given', async () => {
    assert.deepEqual(seqs(await store.page('room-long', { after: 5, limit: 20 })), range(6, 25));
    assert.deepEqual(
      seqs(await store.page('room-long', { after: 8, before: 31, limit: 100 })),
      range(9, 30),
    );
    assert.deepEqual(seqs(await store.page('room-long', { after: 9, limit: 1 })), [10]);
    assert.deepEqual(seqs(await store.page('room-long', { after: 19, limit: 2 })), [20, 21]);
    assert.deepEqual(await store.page('room-long', { after: 35, limit: 5 }), []);
  });

  it('answers latest and clientMsgId lookups in the newest and older partitions', async () => {
    assert.equal((await store.latest(['room-long'])).get('room-long')?.seq, 35);
    assert.deepEqual(
      await store.findByClientMsgId('room-long', 'client-room-long-10'),
      withoutFence(chatMessage('room-long', 10)),
    );
    assert.equal((await store.findByClientMsgId('room-long', 'client-room-long-35'))?.seq, 35);
  });

  it('agrees with the embedded room index on random queries, holes included', async () => {
    const index = createRoomIndex();
    const holey = range(1, 80)
      .filter((seq) => seq % 7 !== 0 && (seq < 41 || seq > 52))
      .map((seq) => chatMessage('room-holes', seq));
    holey.forEach(index.upsert);
    await store.put(holey);
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 150; i++) {
      const query: PageQuery = { limit: random(25) };
      if (random(3) > 0) {
        query.after = random(90) - 3;
      }
      if (random(3) > 0) {
        query.before = random(95);
      }
      assert.deepEqual(
        seqs(await store.page('room-holes', query)),
        seqs(index.page('room-holes', query)),
        `page ${JSON.stringify(query)}`,
      );
    }
    assert.equal((await store.latest(['room-holes'])).get('room-holes')?.seq, 80);
  });

  it('refuses to open the keyspace with another bucket size', async () => {
    await assert.rejects(
      openCassandraMessageStore(storeOptions({ keyspace: bucketKeyspace, bucketSize: 20 })),
      TypeError,
    );
  });
});

describe('cassandra store while cassandra is unreachable', { timeout: 60_000 }, () => {
  it('fails to open with unavailable when nothing listens', async () => {
    const started = Date.now();
    await rejectsWithCode(
      () => openCassandraMessageStore(storeOptions({ contactPoints: ['127.0.0.1:1'] })),
      'unavailable',
    );
    assert.ok(Date.now() - started < 5_000, 'refused quickly');
  });

  it('rejects every call with unavailable during a partition, and recovers after', async (t) => {
    const proxy = await startTcpProxy(CASSANDRA_CONTACT);
    t.after(() => proxy.close());
    const store = await openCassandraMessageStore(
      storeOptions({ contactPoints: [proxy.address], requestTimeoutMs: 2_000 }),
    );
    t.after(() => store.close());
    await store.put([chatMessage('room-cut', 1)]);

    proxy.cut();
    const started = Date.now();
    await rejectsWithCode(() => store.put([chatMessage('room-cut', 2)]), 'unavailable');
    await rejectsWithCode(() => store.page('room-cut', { limit: 5 }), 'unavailable');
    await rejectsWithCode(() => store.latest(['room-cut']), 'unavailable');
    await rejectsWithCode(() => store.findByClientMsgId('room-cut', 'x'), 'unavailable');
    const failedInMs = Date.now() - started;
    t.diagnostic(`four calls failed in ${failedInMs} ms while cut`);
    assert.ok(failedInMs < 10_000, `calls failed within the bound (${failedInMs} ms)`);

    proxy.heal();
    const healed = Date.now();
    for (;;) {
      try {
        await store.put([chatMessage('room-cut', 2)]);
        break;
      } catch (error) {
        assert.equal((error as { code?: string }).code, 'unavailable');
        assert.ok(Date.now() - healed < 20_000, 'the store came back after the partition');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    t.diagnostic(`writes worked again ${Date.now() - healed} ms after the partition healed`);
    assert.deepEqual(seqs(await store.page('room-cut', { limit: 5 })), [1, 2]);
  });
});

describe('cassandra store throughput', { timeout: 60_000 }, () => {
  it('stores 5,000 messages over 50 rooms in puts of 100', async (t) => {
    const store = await openCassandraMessageStore(storeOptions());
    t.after(() => store.close());
    const rooms = 50;
    const batches = range(0, 49).map((b) =>
      range(1, 100).map((i) => {
        const n = b * 100 + i - 1;
        return chatMessage(`tp-room-${n % rooms}`, Math.floor(n / rooms) + 1);
      }),
    );
    const started = performance.now();
    await Promise.all(
      range(0, 3).map(async (lane) => {
        for (let b = lane; b < batches.length; b += 4) {
          await store.put(batches[b] as NumberedMessage[]);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    t.diagnostic(
      `put 5000 messages in ${seconds.toFixed(2)} s: ${Math.round(5000 / seconds)} msgs/s`,
    );
    const latest = await store.latest(range(0, rooms - 1).map((r) => `tp-room-${r}`));
    assert.equal(latest.size, rooms);
    assert.ok([...latest.values()].every((message) => message.seq === 100));
  });
});
