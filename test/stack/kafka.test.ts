/**
 * The Kafka message log against a real Kafka 4: the MessageLog contract the embedded log passes,
 * then the kafkajs hazards (rebalances while persisting into Cassandra, concurrent idempotent
 * sends), Kafka unreachable, and poison messages. Needs `local/services/all.sh up kafka
 * cassandra` (or ATLAS_TEST_KAFKA_BROKERS / ATLAS_TEST_CASSANDRA). Topics, groups and the
 * keyspace are this run's own and deleted at the end.
 */
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { after, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { openCassandraMessageStore } from '../../shared/cassandra/message-store.ts';
import { AppError } from '../../shared/errors.ts';
import { openKafkaMessageLog } from '../../shared/kafka/message-log.ts';
import type {
  DeadLetter,
  KafkaMessageLog,
  KafkaMessageLogOptions,
} from '../../shared/kafka/message-log.ts';
import type { NumberedMessage, LogConsumer, MessageStore } from '../../shared/ports/messages.ts';
import { chatMessage, delay, rejectsWithCode, waitUntil } from '../contracts/helpers.ts';
import { messageLogContract } from '../contracts/message-log.contract.ts';
import {
  CASSANDRA_CONTACT,
  CASSANDRA_DC,
  dropKeyspaces,
  runKeyspace,
} from './support/cassandra.ts';
import {
  breakableSockets,
  countTopicMessages,
  KAFKA_BROKERS,
  KAFKA_RUN,
  topicJanitor,
} from './support/kafka.ts';

const janitor = topicJanitor();
const keyspace = runKeyspace('kafka');
after(async () => {
  await janitor.sweep();
  await dropKeyspaces([keyspace]);
});

const quietLogger = { warn() {}, error() {} };

function logOptions(
  name: string,
  overrides: Partial<KafkaMessageLogOptions> = {},
): KafkaMessageLogOptions {
  const topic = janitor.track(`${KAFKA_RUN}-${name}`);
  return {
    brokers: KAFKA_BROKERS,
    topic,
    dlqTopic: janitor.track(`${topic}-dlq`),
    partitions: 6,
    clientId: 'atlas-stack-test',
    maxAttempts: 50,
    groupPrefix: `${topic}.`,
    retryBaseMs: 10,
    retryMaxMs: 50,
    logger: quietLogger,
    ...overrides,
  };
}

// One partition: the contract checks that the first message delivered is the first appended,
// an order across rooms that only a single partition gives (see the report). Several
// partitions are covered below.
messageLogContract(
  'kafka log',
  (dir) => openKafkaMessageLog(logOptions(basename(dir), { partitions: 1 })),
  { durable: true },
);

function openStore(): Promise<MessageStore> {
  return openCassandraMessageStore({
    contactPoints: [CASSANDRA_CONTACT],
    localDataCenter: CASSANDRA_DC,
    keyspace,
  });
}

/** `perRoom` messages in each of `rooms` rooms, in an order a sequencer could have sent them. */
function roomMessages(prefix: string, rooms: number, perRoom: number): NumberedMessage[] {
  const messages: NumberedMessage[] = [];
  for (let seq = 1; seq <= perRoom; seq++) {
    for (let room = 0; room < rooms; room++) {
      messages.push(chatMessage(`${prefix}-${room}`, seq));
    }
  }
  return messages;
}

/** Appends in chunks, `parallel` chunks in flight, pausing `pauseMs` between chunk starts. */
async function appendAll(
  log: KafkaMessageLog,
  messages: readonly NumberedMessage[],
  { chunk, parallel, pauseMs }: { chunk: number; parallel: number; pauseMs: number },
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < messages.length) {
        const slice = messages.slice(next, next + chunk);
        next += chunk;
        await log.append(slice);
        if (pauseMs > 0) {
          await delay(pauseMs);
        }
      }
    }),
  );
}

/** Every room's seqs in the store must be exactly 1..perRoom. */
async function assertStored(store: MessageStore, prefix: string, rooms: number, perRoom: number) {
  let stored = 0;
  const wrong: string[] = [];
  for (let room = 0; room < rooms; room++) {
    const roomId = `${prefix}-${room}`;
    const seqs = (await store.page(roomId, { limit: perRoom * 2 })).map((m) => m.seq);
    stored += seqs.length;
    if (seqs.length !== perRoom || seqs.some((seq, i) => seq !== i + 1)) {
      wrong.push(`${roomId}: ${seqs.length} stored`);
    }
  }
  return { stored, wrong };
}

describe('kafka log: rebalances while persisting into cassandra', { timeout: 180_000 }, () => {
  it('stores 10,000 messages exactly once per seq across member joins, leaves and a stall', async (t) => {
    const rooms = 250;
    const perRoom = 40;
    const total = rooms * perRoom;
    const options = logOptions('rebalance', {
      sessionTimeoutMs: 6_000,
      heartbeatIntervalMs: 500,
      rebalanceTimeoutMs: 10_000,
      maxBatchMessages: 100,
    });
    const store = await openStore();
    t.after(() => store.close());
    const writer = await openKafkaMessageLog(options);
    t.after(() => writer.close());

    const deliveries = new Map<string, number>();
    let stallNext = false;
    let stalled = 0;
    const handler = async (batch: NumberedMessage[]) => {
      if (stallNext) {
        // One member stops answering longer than its session: the group moves on without it
        // while this call is still running (the "old handler beside the new" hazard).
        stallNext = false;
        stalled += 1;
        await delay(8_000);
      }
      await delay(Math.random() * 5);
      await store.put(batch);
      for (const message of batch) {
        const key = `${message.roomId}#${message.seq}`;
        deliveries.set(key, (deliveries.get(key) ?? 0) + 1);
      }
    };
    const members = new Map<string, { log: KafkaMessageLog; consumer: LogConsumer }>();
    const logs: KafkaMessageLog[] = [];
    async function join(name: string) {
      const log = await openKafkaMessageLog({ ...options, clientId: `member-${name}` });
      logs.push(log);
      members.set(name, { log, consumer: await log.consume('persist', handler) });
    }
    async function leave(name: string) {
      const member = members.get(name);
      members.delete(name);
      await member?.consumer.stop();
      await member?.log.close();
    }
    t.after(() => Promise.all([...members.keys()].map(leave)));

    const started = performance.now();
    await Promise.all(['a', 'b', 'c'].map(join));
    const messages = roomMessages('rb', rooms, perRoom);
    const flow = appendAll(writer, messages, { chunk: 50, parallel: 2, pauseMs: 80 });
    const changes: string[] = [];
    const handled = () => logs.reduce((sum, log) => sum + log.stats().handled, 0);
    for (const [step, change] of [
      ['b leaves', () => leave('b')],
      ['d joins', () => join('d')],
      ['one member stalls', async () => void (stallNext = true)],
      ['a leaves', () => leave('a')],
      ['e joins', () => join('e')],
    ] as const) {
      await waitUntil(
        `progress before ${step}`,
        () => handled() >= (changes.length + 1) * 1_000,
        60_000,
      );
      await change();
      changes.push(step);
    }
    await flow;
    const appendSeconds = (performance.now() - started) / 1000;
    const checker = await openKafkaMessageLog({ ...options, clientId: 'checker' });
    logs.push(checker);
    const watcher = await checker.consume('persist', handler);
    members.set('checker', { log: checker, consumer: watcher });
    await watcher.caughtUp();
    const doneSeconds = (performance.now() - started) / 1000;

    const { stored, wrong } = await assertStored(store, 'rb', rooms, perRoom);
    const duplicates = [...deliveries.values()].reduce((sum, count) => sum + count - 1, 0);
    const stats = logs.map((log) => log.stats());
    const sum = (pick: (s: (typeof stats)[number]) => number) =>
      stats.reduce((acc, s) => acc + pick(s), 0);
    t.diagnostic(
      `sent ${total}, stored ${stored}, distinct delivered ${deliveries.size}, ` +
        `duplicates delivered to handlers ${duplicates}, rooms with gaps ${wrong.length}`,
    );
    t.diagnostic(
      `membership changes: ${changes.join(', ')}; rejoins seen by members ${sum((s) => s.rebalances)}; ` +
        `abandoned batches ${sum((s) => s.abandonedBatches)}, skipped commits ${sum((s) => s.skippedCommits)}, failed commits ${sum((s) => s.failedCommits)}, stalled calls ${stalled}`,
    );
    t.diagnostic(
      `appended in ${appendSeconds.toFixed(1)} s (paced), all persisted after ${doneSeconds.toFixed(1)} s`,
    );
    assert.equal(
      await countTopicMessages(options.topic),
      total,
      'each append is in the topic once',
    );
    assert.deepEqual(wrong, [], 'every room holds exactly seq 1..n');
    assert.equal(stored, total);
    assert.equal(deliveries.size, total, 'every message reached a handler');
    assert.ok(sum((s) => s.rebalances) >= 3, 'at least three rebalances happened');
    assert.equal(stalled, 1);
  });
});

describe(
  'kafka log: a member evicted while its handler runs (kafkajs #1097)',
  { timeout: 60_000 },
  () => {
    it('never lets the old handler commit for the partitions the group gave away', async (t) => {
      const options = logOptions('zombie', {
        partitions: 2,
        sessionTimeoutMs: 6_000,
        heartbeatIntervalMs: 500,
        rebalanceTimeoutMs: 6_000,
      });
      const store = await openStore();
      t.after(() => store.close());
      const sent = roomMessages('zz', 20, 10);
      const writer = await openKafkaMessageLog(options);
      t.after(() => writer.close());
      await writer.append(sent);

      const counts = new Map<string, number>();
      const record = (batch: NumberedMessage[]) =>
        batch.forEach((m) => counts.set(m.id, (counts.get(m.id) ?? 0) + 1));
      let zombieCalls = 0;
      let zombieFinished = false;
      // The zombie's first call outlives its session: no heartbeat, so the broker evicts it.
      const zombie = await openKafkaMessageLog({ ...options, clientId: 'zombie' });
      t.after(() => zombie.close());
      await zombie.consume('persist', async (batch) => {
        zombieCalls += 1;
        if (zombieCalls === 1) {
          await delay(9_000);
          zombieFinished = true;
        }
        await store.put(batch);
        record(batch);
      });
      await waitUntil('the zombie is stuck in its first batch', () => zombieCalls === 1);
      const heir = await openKafkaMessageLog({ ...options, clientId: 'heir' });
      t.after(() => heir.close());
      const heirConsumer = await heir.consume('persist', async (batch) => {
        await store.put(batch);
        record(batch);
      });
      await heirConsumer.caughtUp();
      await waitUntil('the zombie finished its stale call', () => zombieFinished, 15_000);
      await delay(1_000);

      const z = zombie.stats();
      const duplicates = [...counts.values()].reduce((sum, count) => sum + count - 1, 0);
      t.diagnostic(
        `zombie: handled ${z.handled}, commits that failed (refused by the broker) ${z.failedCommits}, ` +
          `skipped ${z.skippedCommits}, abandoned ${z.abandonedBatches}; heir handled ${heir.stats().handled}; ` +
          `duplicates delivered ${duplicates}`,
      );
      assert.equal(counts.size, sent.length, 'every message handled');
      assert.ok(z.failedCommits + z.skippedCommits >= 1, 'the stale batch was never committed');
      const { stored, wrong } = await assertStored(store, 'zz', 20, 10);
      assert.equal(stored, sent.length);
      assert.deepEqual(wrong, []);
      await heirConsumer.caughtUp();
    });
  },
);

describe('kafka log: throughput', { timeout: 120_000 }, () => {
  it('appends and persists 10,000 messages with three members', async (t) => {
    const rooms = 200;
    const perRoom = 50;
    const options = logOptions('throughput', { maxBatchMessages: 256 });
    const writer = await openKafkaMessageLog(options);
    t.after(() => writer.close());
    const messages = roomMessages('tp', rooms, perRoom);

    const appendStart = performance.now();
    await Promise.all(messages.map((message) => writer.append([message])));
    const appendSeconds = (performance.now() - appendStart) / 1000;

    const store = await openStore();
    t.after(() => store.close());
    const members = await Promise.all(
      ['x', 'y', 'z'].map((name) => openKafkaMessageLog({ ...options, clientId: `tp-${name}` })),
    );
    t.after(() => Promise.all(members.map((log) => log.close())));
    const persistStart = performance.now();
    const consumers = await Promise.all(
      members.map((log) => log.consume('persist', (batch) => store.put(batch))),
    );
    await Promise.all(consumers.map((consumer) => consumer.caughtUp()));
    const persistSeconds = (performance.now() - persistStart) / 1000;

    const { stored, wrong } = await assertStored(store, 'tp', rooms, perRoom);
    t.diagnostic(
      `10000 single-message appends, all concurrent: ${appendSeconds.toFixed(2)} s = ` +
        `${Math.round(10_000 / appendSeconds)} appends/s`,
    );
    t.diagnostic(
      `persisted by 3 members into cassandra (joins included): ${persistSeconds.toFixed(2)} s = ` +
        `${Math.round(10_000 / persistSeconds)} msgs/s`,
    );
    assert.equal(stored, 10_000);
    assert.deepEqual(wrong, []);
  });
});

describe('kafka log: several processes opening a new topic at once', { timeout: 60_000 }, () => {
  it('opens every one of them, whichever created the topic', async (t) => {
    // Roles started together race to create the topic; the losers must wait for its
    // metadata instead of failing on "does not host this topic-partition".
    const options = logOptions('opened-together');
    const opened = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) =>
        openKafkaMessageLog({ ...options, clientId: `opener-${i}` }),
      ),
    );
    const logs = opened.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    t.after(() => Promise.all(logs.map((log) => log.close())));
    assert.deepEqual(
      opened.flatMap((result) => (result.status === 'rejected' ? [String(result.reason)] : [])),
      [],
    );
    await Promise.all(logs.map((log, i) => log.append([chatMessage(`room-${i}`, 1)])));
    assert.equal(await countTopicMessages(options.topic), logs.length);
  });
});

describe('kafka log: concurrent appends (kafkajs #598)', { timeout: 60_000 }, () => {
  it('resolves 500 concurrent appends, each in the topic exactly once', async (t) => {
    const options = logOptions('concurrent');
    const log = await openKafkaMessageLog(options);
    t.after(() => log.close());
    const sent = Array.from({ length: 500 }, (_, i) => chatMessage(`room-${i % 37}`, i + 1));
    const started = performance.now();
    await Promise.all(sent.map((message) => log.append([message])));
    const seconds = (performance.now() - started) / 1000;
    t.diagnostic(`500 concurrent appends in ${(seconds * 1000).toFixed(0)} ms`);
    assert.equal(await countTopicMessages(options.topic), 500);

    const seen = new Map<string, number>();
    const consumer = await log.consume('check', async (batch) => {
      batch.forEach((m) => seen.set(m.id, (seen.get(m.id) ?? 0) + 1));
    });
    t.after(() => consumer.stop());
    await consumer.caughtUp();
    assert.equal(seen.size, 500);
    assert.ok(
      [...seen.values()].every((count) => count === 1),
      'no message twice',
    );
    assert.equal(log.stats().appended, 500);
  });
});

describe('kafka log: kafka unreachable', { timeout: 60_000 }, () => {
  it('fails to open with unavailable when nothing listens', async () => {
    const started = Date.now();
    await rejectsWithCode(
      () => openKafkaMessageLog(logOptions('closed-port', { brokers: ['127.0.0.1:1'] })),
      'unavailable',
    );
    assert.ok(
      Date.now() - started < 15_000,
      `refused within the bound (${Date.now() - started} ms)`,
    );
  });

  for (const how of ['reset', 'silent'] as const) {
    it(`rejects appends with unavailable within the bound while cut off (${how}), then recovers`, async (t) => {
      const sockets = await breakableSockets();
      t.after(() => sockets.close());
      const options = logOptions(`cut-${how}`, {
        appendTimeoutMs: 3_000,
        kafka: { socketFactory: sockets.factory },
      });
      const log = await openKafkaMessageLog(options);
      t.after(() => log.close());
      await log.append([chatMessage('room-cut', 1)]);

      sockets.cut(how);
      const started = Date.now();
      const outcomes = await Promise.allSettled(
        [2, 3, 4].map((seq) => log.append([chatMessage('room-cut', seq)])),
      );
      const elapsed = Date.now() - started;
      t.diagnostic(`${how}: 3 appends refused after ${elapsed} ms`);
      for (const outcome of outcomes) {
        assert.equal(outcome.status, 'rejected');
        assert.ok(outcome.reason instanceof AppError && outcome.reason.code === 'unavailable');
      }
      assert.ok(elapsed < 3_000 + 500, `refused within the bound (${elapsed} ms)`);

      sockets.heal();
      const healed = Date.now();
      await log.append([chatMessage('room-cut', 5)]);
      t.diagnostic(`${how}: append worked again ${Date.now() - healed} ms after healing`);
      // A refused append may still have reached the broker when the partition dropped only
      // the answers: "unavailable" means "not known to be written", never "not written".
      const inTopic = await countTopicMessages(options.topic);
      t.diagnostic(`${how}: ${inTopic - 2} of 3 refused appends are in the topic anyway`);
      assert.ok(inTopic >= 2 && inTopic <= 5);
    });
  }
});

describe('kafka log: poison messages (dead-letter topic)', { timeout: 60_000 }, () => {
  it('dead-letters a message failing maxAttempts times and keeps handling its partition', async (t) => {
    const letters: DeadLetter[] = [];
    const options = logOptions('poison', {
      partitions: 1,
      maxAttempts: 3,
      onDeadLetter: (letter) => letters.push(letter),
    });
    const log = await openKafkaMessageLog(options);
    t.after(() => log.close());
    const handled: string[] = [];
    let poisonCalls = 0;
    let outage = 4;
    const consumer = await log.consume('persist', async (batch) => {
      if (batch.some((m) => m.body === 'poison')) {
        poisonCalls += 1;
        throw new TypeError('cannot store this message');
      }
      if (batch.some((m) => m.seq === 6) && outage > 0) {
        outage -= 1;
        // A store outage is transient: retried for as long as it lasts, never dead-lettered.
        throw new AppError('unavailable', 'store down');
      }
      handled.push(...batch.map((m) => m.id));
    });
    t.after(() => consumer.stop());

    const sent = [1, 2, 3, 4, 5].map((seq) =>
      chatMessage('room-p', seq, seq === 3 ? { body: 'poison' } : {}),
    );
    await log.append(sent);
    // A record that is not a NumberedMessage at all, written by some other producer.
    const raw = new Kafka({ brokers: KAFKA_BROKERS, logLevel: logLevel.NOTHING }).producer();
    await raw.connect();
    await raw.send({ topic: options.topic, messages: [{ key: 'room-p', value: 'not json' }] });
    await raw.disconnect();
    await log.append([6, 7].map((seq) => chatMessage('room-p', seq)));
    await consumer.caughtUp();

    assert.deepEqual(handled, [
      'room-p-1',
      'room-p-2',
      'room-p-4',
      'room-p-5',
      'room-p-6',
      'room-p-7',
    ]);
    assert.deepEqual(
      letters.map((l) => [l.seq, l.attempts]),
      [
        [3, 3],
        [undefined, 0],
      ],
    );
    assert.equal(log.stats().deadLettered, 2);
    assert.equal(outage, 0, 'the transient failures were retried through');

    const dlq = await readTopic(options.dlqTopic, 2);
    assert.equal(dlq.length, 2);
    const [first] = dlq;
    assert.equal(first?.headers['atlas-attempts'], '3');
    assert.equal(first?.headers['atlas-error-name'], 'TypeError');
    assert.equal(first?.headers['atlas-source-topic'], options.topic);
    assert.deepEqual(JSON.parse(first?.value ?? ''), sent[2], 'the original record, unchanged');
    assert.equal(dlq[1]?.value, 'not json');
    t.diagnostic(`poison handler calls: ${poisonCalls} (batch attempts, then alone)`);
  });
});

/** Reads `count` records of a topic from the start with a throwaway group. */
async function readTopic(topic: string, count: number) {
  const kafka = new Kafka({ brokers: KAFKA_BROKERS, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `${topic}.reader` });
  const records: Array<{ value: string; headers: Record<string, string> }> = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(message.headers ?? {})) {
          headers[name] = String(value);
        }
        records.push({ value: message.value?.toString('utf8') ?? '', headers });
      },
    });
    await waitUntil(`${count} records in ${topic}`, () => records.length >= count, 20_000);
  } finally {
    await consumer.disconnect();
  }
  return records;
}
