import { Kafka, Partitioners } from 'kafkajs';
import type { Admin, KafkaConfig } from 'kafkajs';
import { assertNumberedMessages } from '../embedded/chat-message.ts';
import type { NumberedMessage, LogConsumer, MessageLog } from '../ports/messages.ts';
import { startKafkaConsumer } from './consumer.ts';
import type { DeadLetter } from './dead-letter.ts';
import { createSender } from './sender.ts';
import { createStats } from './stats.ts';
import type { KafkaLogStats } from './stats.ts';
import { consoleLogger, kafkaLogCreator, kafkaUnavailable, withDeadline } from './support.ts';
import type { KafkaLogger } from './support.ts';
import { ensureTopic, fetchEndOffsets } from './topics.ts';

export type { DeadLetter } from './dead-letter.ts';
export type { KafkaLogStats } from './stats.ts';
export type { KafkaLogger } from './support.ts';

export interface KafkaMessageLogOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  /** The log's topic; created at open with `partitions` when missing. Messages keyed by room. */
  topic: string;
  partitions: number;
  /** Also names this process's connections in broker logs. */
  clientId: string;
  /** Where messages go that a handler failed on `maxAttempts` times; created at open. */
  dlqTopic: string;
  /** Non-transient handler failures before a message is dead-lettered. */
  maxAttempts: number;
  /** Default 1; use 3 (with min.insync.replicas 2 on the brokers) in production. */
  replicationFactor?: number;
  /** Prepended to every group name given to consume(): tenants, test runs. Default ''. */
  groupPrefix?: string;
  /** An append not acknowledged by all in-sync replicas within this rejects. Default 5000. */
  appendTimeoutMs?: number;
  /** Bound of open() (reaching Kafka, creating topics). Default 15000. */
  openTimeoutMs?: number;
  /** TCP connect timeout per broker connection. Default 3000. */
  connectionTimeoutMs?: number;
  /** Per-request timeout of the Kafka client. Default 5000. */
  requestTimeoutMs?: number;
  /** Most bytes coalesced into one produce request. Default 512 KiB. */
  maxSendBytes?: number;
  /** Most messages per handler call (one commit each). Default 256. */
  maxBatchMessages?: number;
  /** Partitions a consumer handles at the same time (each stays in order). Default 1. */
  partitionsConcurrently?: number;
  /** First handler retry delay before jitter. Default 100. */
  retryBaseMs?: number;
  /** Cap of the doubling handler retry delay. Default 10000. */
  retryMaxMs?: number;
  /** Group session: a member silent this long is removed. Default 10000 (broker min 6000). */
  sessionTimeoutMs?: number;
  /** Default 1000. */
  heartbeatIntervalMs?: number;
  /** How long a rebalance waits for members to rejoin. Default 20000. */
  rebalanceTimeoutMs?: number;
  /** Longest a fetch waits for new messages (the tail latency when idle). Default 100. */
  maxWaitMs?: number;
  /** consume() rejects with `unavailable` if the member has not joined by then. Default 30000. */
  joinTimeoutMs?: number;
  /** How often caughtUp() compares committed and end offsets. Default 100. */
  caughtUpPollMs?: number;
  /** Structured logger (a pino Logger fits). Default: console. */
  logger?: KafkaLogger;
  /** Called after each dead-lettered message (after it is in the DLQ and logged). */
  onDeadLetter?: (letter: DeadLetter) => void;
  /** TLS, SASL, or a socket factory (tests); the rest of the client config is the adapter's. */
  kafka?: Pick<KafkaConfig, 'ssl' | 'sasl' | 'socketFactory'>;
}

export interface KafkaMessageLog extends MessageLog {
  /** A live view of the counters (the same object every call). */
  stats(): Readonly<KafkaLogStats>;
}

/**
 * The message log on Kafka. append() sends each message keyed by its room with acks=all through
 * an idempotent producer, one request in flight (see sender.ts), and resolves once the brokers
 * acknowledged it; Kafka unreachable or slow rejects with `unavailable` within appendTimeoutMs.
 * consume() joins a consumer group (see consumer.ts). Values are the NumberedMessage as JSON.
 *
 * A rejection means "not known to be written", not "not written": when only the broker's answer
 * is lost (a timeout, a partition that drops packets), the messages may be in the log anyway,
 * and an append spanning partitions may be written in part. Every Kafka client has this; the
 * caller must not hand the same seq to a different message afterwards without first reading
 * what the log holds.
 */
export async function openKafkaMessageLog(
  options: KafkaMessageLogOptions,
): Promise<KafkaMessageLog> {
  const settings = resolveOptions(options);
  const { topic, logger } = settings;
  const kafka = new Kafka({
    ...options.kafka,
    brokers: options.brokers,
    clientId: options.clientId,
    connectionTimeout: settings.connectionTimeoutMs,
    requestTimeout: settings.requestTimeoutMs,
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1_000 },
    logCreator: kafkaLogCreator(logger),
  });
  const admin = kafka.admin();
  const sender = createSender({
    kafka,
    producer: {
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1_000 },
    },
    timeoutMs: settings.appendTimeoutMs,
    ackTimeoutMs: settings.requestTimeoutMs,
    maxBatchBytes: settings.maxSendBytes,
  });
  try {
    await withDeadline(prepare(admin), settings.openTimeoutMs, () =>
      kafkaUnavailable(`kafka did not answer within ${settings.openTimeoutMs} ms`),
    );
  } catch (error) {
    await Promise.allSettled([sender.close(), admin.disconnect()]);
    throw kafkaUnavailable(`cannot open the kafka message log ${topic}`, error);
  }

  async function prepare(client: Admin): Promise<void> {
    await client.connect();
    const replicationFactor = settings.replicationFactor;
    // Right after a topic is created, by this process or by another starting beside it, its
    // metadata and leaders lag for a moment (seconds on a broker that has just started and is
    // busy), and the broker answers "does not host this topic-partition". Each step is retried
    // until it answers; caughtUp() must work as soon as open resolves. The open deadline
    // bounds the wait.
    const giveUpAt = Date.now() + settings.openTimeoutMs;
    const untilAnswered = async (step: () => Promise<unknown>): Promise<void> => {
      for (;;) {
        try {
          await step();
          return;
        } catch (error) {
          if (Date.now() >= giveUpAt) {
            throw error;
          }
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    };
    await untilAnswered(() =>
      ensureTopic(client, { topic, partitions: settings.partitions, replicationFactor }, logger),
    );
    await untilAnswered(() =>
      ensureTopic(client, { topic: settings.dlqTopic, partitions: 1, replicationFactor }, logger),
    );
    await untilAnswered(() => fetchEndOffsets(client, topic));
  }

  const stats = createStats();
  const consumers = new Set<Promise<LogConsumer>>();
  let closing: Promise<void> | undefined;

  async function append(messages: readonly NumberedMessage[]): Promise<void> {
    if (closing) {
      throw kafkaUnavailable('message log is closed');
    }
    assertNumberedMessages(messages);
    await sender.send(
      messages.map((message) => ({ topic, key: message.roomId, value: JSON.stringify(message) })),
    );
    stats.appended += messages.length;
  }

  function consume(
    group: string,
    handler: (batch: NumberedMessage[]) => Promise<void>,
  ): Promise<LogConsumer> {
    if (closing) {
      return Promise.reject(kafkaUnavailable('message log is closed'));
    }
    if (typeof group !== 'string' || group === '') {
      return Promise.reject(new TypeError('consume: group must be a non-empty string'));
    }
    const started = startKafkaConsumer({
      ...settings,
      kafka,
      admin,
      group,
      groupId: settings.groupPrefix + group,
      handler,
      sender,
      stats,
      onDeadLetter: options.onDeadLetter,
    }).then((consumer) => ({
      caughtUp: consumer.caughtUp,
      stop: async function stop() {
        await consumer.stop();
        consumers.delete(started);
      },
    }));
    consumers.add(started);
    started.catch(() => consumers.delete(started));
    return started;
  }

  function close(): Promise<void> {
    closing ??= (async function closeLog() {
      const live = await Promise.allSettled(consumers);
      await Promise.all(
        live.map((result) => (result.status === 'fulfilled' ? result.value.stop() : undefined)),
      );
      await sender.close();
      await admin.disconnect().catch(() => undefined);
    })();
    return closing;
  }

  return { append, consume, close, stats: () => stats };
}

function resolveOptions(options: KafkaMessageLogOptions) {
  const { brokers, topic, dlqTopic, clientId } = options;
  if (!Array.isArray(brokers) || brokers.length === 0) {
    throw new TypeError('openKafkaMessageLog: brokers must be a non-empty array');
  }
  for (const [name, value] of Object.entries({ topic, dlqTopic, clientId })) {
    if (typeof value !== 'string' || !/^[A-Za-z0-9._-]{1,249}$/.test(value)) {
      throw new TypeError(`openKafkaMessageLog: ${name} must be a valid topic/client name`);
    }
  }
  if (topic === dlqTopic) {
    throw new TypeError('openKafkaMessageLog: dlqTopic must differ from topic');
  }
  return {
    topic,
    dlqTopic,
    partitions: positiveInteger(options.partitions, 'partitions'),
    maxAttempts: positiveInteger(options.maxAttempts, 'maxAttempts'),
    replicationFactor: positiveInteger(options.replicationFactor ?? 1, 'replicationFactor'),
    groupPrefix: options.groupPrefix ?? '',
    appendTimeoutMs: positiveInteger(options.appendTimeoutMs ?? 5_000, 'appendTimeoutMs'),
    openTimeoutMs: positiveInteger(options.openTimeoutMs ?? 15_000, 'openTimeoutMs'),
    connectionTimeoutMs: positiveInteger(
      options.connectionTimeoutMs ?? 3_000,
      'connectionTimeoutMs',
    ),
    requestTimeoutMs: positiveInteger(options.requestTimeoutMs ?? 5_000, 'requestTimeoutMs'),
    maxSendBytes: positiveInteger(options.maxSendBytes ?? 512 * 1024, 'maxSendBytes'),
    maxBatchMessages: positiveInteger(options.maxBatchMessages ?? 256, 'maxBatchMessages'),
    partitionsConcurrently: positiveInteger(
      options.partitionsConcurrently ?? 1,
      'partitionsConcurrently',
    ),
    retry: {
      baseMs: positiveInteger(options.retryBaseMs ?? 100, 'retryBaseMs'),
      maxMs: positiveInteger(options.retryMaxMs ?? 10_000, 'retryMaxMs'),
    },
    sessionTimeoutMs: positiveInteger(options.sessionTimeoutMs ?? 10_000, 'sessionTimeoutMs'),
    heartbeatIntervalMs: positiveInteger(
      options.heartbeatIntervalMs ?? 1_000,
      'heartbeatIntervalMs',
    ),
    rebalanceTimeoutMs: positiveInteger(options.rebalanceTimeoutMs ?? 20_000, 'rebalanceTimeoutMs'),
    maxWaitMs: positiveInteger(options.maxWaitMs ?? 100, 'maxWaitMs'),
    joinTimeoutMs: positiveInteger(options.joinTimeoutMs ?? 30_000, 'joinTimeoutMs'),
    caughtUpPollMs: positiveInteger(options.caughtUpPollMs ?? 100, 'caughtUpPollMs'),
    logger: options.logger ?? consoleLogger,
  };
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`openKafkaMessageLog: ${name} must be a positive integer`);
  }
  return value;
}
