import type { Admin, EachBatchPayload, Kafka } from 'kafkajs';
import { isAppError, isRetryable } from '../errors.ts';
import { backoffDelayMs } from '../embedded/backoff.ts';
import type { BackoffOptions } from '../embedded/backoff.ts';
import type { NumberedMessage, LogConsumer } from '../ports/messages.ts';
import { deadLetterRecord, decodeEntry, describeDeadLetter, logDeadLetter } from './dead-letter.ts';
import type { DeadLetter, Entry } from './dead-letter.ts';
import type { Sender } from './sender.ts';
import type { KafkaLogStats } from './stats.ts';
import { cuttableSleep, errorFields, kafkaUnavailable, withDeadline } from './support.ts';
import type { KafkaLogger } from './support.ts';
import { waitForCommits } from './topics.ts';

export interface ConsumerSettings {
  kafka: Kafka;
  admin: Admin;
  topic: string;
  /** The port's group name, for logs; `groupId` is what Kafka sees. */
  group: string;
  groupId: string;
  handler: (batch: NumberedMessage[]) => Promise<void>;
  sender: Sender;
  dlqTopic: string;
  maxAttempts: number;
  maxBatchMessages: number;
  partitionsConcurrently: number;
  retry: BackoffOptions;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
  maxWaitMs: number;
  joinTimeoutMs: number;
  caughtUpPollMs: number;
  logger: KafkaLogger;
  stats: KafkaLogStats;
  onDeadLetter: ((letter: DeadLetter) => void) | undefined;
}

/**
 * One group member. Delivery is at least once and per partition in offset order (the key is the
 * room, so per room in log order). Offsets are committed only after the handler resolved, and
 * only while this member still owns the partition in the generation the batch came from.
 *
 * The kafkajs hazards this guards against (#1046, #922, #1097): batches of an old generation are
 * still handed to eachBatch after the group started rebalancing, and a commit sent after a rejoin
 * carries the new generation, so the broker accepts it even for a partition that moved to another
 * member. Each batch therefore remembers the generation it started in, checks ownership (from the
 * member's own GROUP_JOIN assignment) before handling and before committing, and gives up on any
 * kafkajs error from heartbeat or commit. What is given up is redelivered to the owner; handlers
 * are idempotent upserts, so a redelivery costs a write, never a duplicate.
 */
export async function startKafkaConsumer(settings: ConsumerSettings): Promise<LogConsumer> {
  const { kafka, admin, topic, group, groupId, handler, logger, stats } = settings;
  const sleeper = cuttableSleep();
  let generation = 0;
  let fenced = -1;
  let owned = new Set<number>();
  let stopping = false;
  let stopped: Promise<void> | undefined;

  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: settings.sessionTimeoutMs,
    rebalanceTimeout: settings.rebalanceTimeoutMs,
    heartbeatInterval: settings.heartbeatIntervalMs,
    maxWaitTimeInMs: settings.maxWaitMs,
    allowAutoTopicCreation: false,
    retry: {
      retries: 5,
      initialRetryTime: 100,
      maxRetryTime: 2_000,
      // A consumer never stays dead while it is wanted: kafkajs restarts it after any crash.
      restartOnFailure: async () => !stopping,
    },
  });
  consumer.on(consumer.events.GROUP_JOIN, function onJoin({ payload }) {
    if (generation > 0) {
      stats.rebalances += 1;
    }
    generation += 1;
    owned = new Set(payload.memberAssignment[topic] ?? []);
  });
  consumer.on(consumer.events.REBALANCING, function onRebalancing() {
    fenced = generation;
  });
  consumer.on(consumer.events.CRASH, function onCrash({ payload }) {
    fenced = generation;
    if (!stopping) {
      logger.error(
        { group, topic, restart: payload.restart, ...errorFields(payload.error) },
        'kafka consumer crashed',
      );
    }
  });

  /** Whether a batch that started in generation `gen` may still be handled. */
  function mayHandle(payload: EachBatchPayload, gen: number): boolean {
    return !stopping && payload.isRunning() && mayCommit(payload, gen);
  }

  /**
   * Whether offsets of a batch from generation `gen` may be committed. A stopping member may
   * still commit what it handled: it stays in the group, owning the partition, until it leaves.
   */
  function mayCommit(payload: EachBatchPayload, gen: number): boolean {
    return (
      !payload.isStale() &&
      gen === generation &&
      gen !== fenced &&
      owned.has(payload.batch.partition)
    );
  }

  /** A kafkajs call that fails means the member must rejoin: nothing more of `gen` is used. */
  async function groupCall(gen: number, call: () => Promise<void>): Promise<void> {
    try {
      await call();
    } catch (error) {
      fenced = Math.max(fenced, gen);
      throw error;
    }
  }

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const gen = generation;
    const entries = batch.messages.map(decodeEntry);
    for (let start = 0; start < entries.length; start += settings.maxBatchMessages) {
      if (!mayHandle(payload, gen)) {
        stats.abandonedBatches += 1;
        return;
      }
      const chunk = entries.slice(start, start + settings.maxBatchMessages);
      if (!(await handleChunk(payload, gen, chunk))) {
        stats.abandonedBatches += 1;
        return;
      }
      if (!mayCommit(payload, gen)) {
        stats.skippedCommits += 1;
        return;
      }
      const last = (chunk.at(-1) as Entry).offset;
      const next = (BigInt(last) + 1n).toString();
      // Commit first, then move the fetch position: a failed commit refetches the chunk (one
      // more idempotent write) instead of leaving the group's position behind for good.
      await groupCall(gen, async () => {
        try {
          await payload.commitOffsetsIfNecessary({
            topics: [{ topic, partitions: [{ partition: batch.partition, offset: next }] }],
          });
        } catch (error) {
          stats.failedCommits += 1;
          throw error;
        }
      });
      payload.resolveOffset(last);
      stats.commits += 1;
      await groupCall(gen, () => payload.heartbeat());
    }
  }

  /** Runs of readable messages go to the handler, unreadable records to the DLQ, in order. */
  async function handleChunk(payload: EachBatchPayload, gen: number, chunk: Entry[]) {
    let run: Entry[] = [];
    for (const entry of [...chunk, undefined]) {
      if (entry?.message !== undefined) {
        run.push(entry);
        continue;
      }
      if (run.length > 0 && !(await deliver(payload, gen, run))) {
        return false;
      }
      run = [];
      if (entry && !(await deadLetter(payload, gen, entry, 0, entry.decodeError))) {
        return false;
      }
    }
    return true;
  }

  /**
   * Calls the handler until it resolves. Transient failures (`unavailable` and the like: the
   * store is down) are retried for as long as it takes. Other failures count: after
   * `maxAttempts` a batch is retried message by message, and a message that fails alone
   * `maxAttempts` times is dead-lettered. False when the batch was given up (see eachBatch).
   */
  async function deliver(payload: EachBatchPayload, gen: number, entries: Entry[]) {
    let failures = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        // Fresh copies per call: a handler that changed a failed batch must not see it again.
        await handler(entries.map((entry) => ({ ...(entry.message as NumberedMessage) })));
        stats.handled += entries.length;
        return true;
      } catch (error) {
        stats.handlerFailures += 1;
        const transient = isAppError(error) && isRetryable(error.code);
        failures += transient ? 0 : 1;
        logger.warn(
          {
            group,
            topic,
            partition: payload.batch.partition,
            offset: entries[0]?.offset,
            messages: entries.length,
            attempt,
            transient,
            ...errorFields(error),
          },
          'message handler failed',
        );
        if (failures >= settings.maxAttempts) {
          const [only] = entries;
          if (entries.length === 1 && only) {
            return deadLetter(payload, gen, only, failures, error);
          }
          for (const entry of entries) {
            if (!(await deliver(payload, gen, [entry]))) {
              return false;
            }
          }
          return true;
        }
      }
      if (!(await pause(payload, gen, attempt))) {
        return false;
      }
    }
  }

  /** Waits before retry `attempt`, keeping the session alive; false when the batch is lost. */
  async function pause(payload: EachBatchPayload, gen: number, attempt: number) {
    if (!mayHandle(payload, gen)) {
      return false;
    }
    await sleeper.sleep(backoffDelayMs(attempt, settings.retry));
    if (!mayHandle(payload, gen)) {
      return false;
    }
    await groupCall(gen, () => payload.heartbeat());
    return mayHandle(payload, gen);
  }

  async function deadLetter(
    payload: EachBatchPayload,
    gen: number,
    entry: Entry,
    attempts: number,
    error: unknown,
  ): Promise<boolean> {
    const { partition } = payload.batch;
    const letter = describeDeadLetter(entry, { group, topic, partition }, attempts, error);
    const record = deadLetterRecord(letter, entry, settings.dlqTopic);
    // Kafka refusing the dead letter is an outage like any other: retried, never skipped.
    for (let attempt = 1; ; attempt++) {
      try {
        await settings.sender.send([record]);
        break;
      } catch (sendError) {
        logger.warn({ group, topic, partition, ...errorFields(sendError) }, 'dead-letter failed');
        if (!(await pause(payload, gen, attempt))) {
          return false;
        }
      }
    }
    stats.deadLettered += 1;
    logDeadLetter(logger, letter, settings.dlqTopic);
    settings.onDeadLetter?.(letter);
    return true;
  }

  function caughtUp(): Promise<void> {
    return waitForCommits({
      admin,
      topic,
      groupId,
      pollMs: settings.caughtUpPollMs,
      sleep: sleeper.sleep,
      stopped: () => stopping,
      onError: (error) =>
        logger.warn({ group, topic, ...errorFields(error) }, 'caught-up check failed'),
    });
  }

  function stop(): Promise<void> {
    stopped ??= (async function stopConsumer() {
      stopping = true;
      sleeper.cut();
      // kafkajs waits for the batch in flight before it leaves the group.
      await consumer.stop().catch(() => undefined);
      await consumer.disconnect().catch(() => undefined);
    })();
    return stopped;
  }

  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: settings.partitionsConcurrently,
      eachBatch,
    });
    await withDeadline(joined(), settings.joinTimeoutMs, () =>
      kafkaUnavailable(`consumer did not join group ${group} in time`),
    );
  } catch (error) {
    await stop();
    throw kafkaUnavailable(`cannot start a kafka consumer for group ${group}`, error);
  }

  /** run() resolves after the first join, or after a failed one that kafkajs then retries. */
  async function joined(): Promise<void> {
    while (generation === 0) {
      if (stopping) {
        throw kafkaUnavailable('consumer stopped');
      }
      await sleeper.sleep(20);
    }
  }

  return { caughtUp, stop };
}
