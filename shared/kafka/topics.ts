import type { Admin } from 'kafkajs';
import { kafkaUnavailable } from './support.ts';
import type { KafkaLogger } from './support.ts';

export interface TopicSpec {
  topic: string;
  partitions: number;
  replicationFactor: number;
}

/**
 * Creates the topic if it is missing (the brokers do not auto-create). An existing topic is kept
 * as it is: a different partition count is logged, never changed here, since moving rooms to
 * other partitions would break their order for messages already in the log.
 */
export async function ensureTopic(admin: Admin, spec: TopicSpec, logger: KafkaLogger) {
  const created = await admin.createTopics({
    topics: [
      {
        topic: spec.topic,
        numPartitions: spec.partitions,
        replicationFactor: spec.replicationFactor,
      },
    ],
    waitForLeaders: true,
  });
  if (created) {
    return;
  }
  const { topics } = await admin.fetchTopicMetadata({ topics: [spec.topic] });
  const actual = topics[0]?.partitions.length;
  if (actual !== spec.partitions) {
    logger.warn(
      { topic: spec.topic, partitions: actual, wanted_partitions: spec.partitions },
      'kafka topic exists with another partition count; keeping it',
    );
  }
}

/** Per partition: the next offset to be written (high) and the oldest one still held (low). */
export type EndOffsets = Map<number, { high: bigint; low: bigint }>;

export async function fetchEndOffsets(admin: Admin, topic: string): Promise<EndOffsets> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return new Map(
    offsets.map(({ partition, high, low }) => [
      partition,
      { high: BigInt(high), low: BigInt(low) },
    ]),
  );
}

/** The group's committed offset per partition; -1 where it never committed. */
export async function fetchCommitted(
  admin: Admin,
  groupId: string,
  topic: string,
): Promise<Map<number, bigint>> {
  const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return new Map(
    (entry?.partitions ?? []).map(({ partition, offset }) => [partition, BigInt(offset)]),
  );
}

/** Whether the group committed past every message below `ends` (empty partitions need nothing). */
export function reached(ends: EndOffsets, committed: Map<number, bigint>): boolean {
  for (const [partition, { high, low }] of ends) {
    if (high > low && (committed.get(partition) ?? -1n) < high) {
      return false;
    }
  }
  return true;
}

export interface CommitWait {
  admin: Admin;
  topic: string;
  groupId: string;
  pollMs: number;
  sleep: (ms: number) => Promise<void>;
  stopped: () => boolean;
  /** Reported for the first failed check and every 50th after (Kafka away for a while). */
  onError: (error: unknown) => void;
}

/**
 * Resolves once the group's committed offsets reach the topic's end offsets as they were at the
 * call: what was appended before it is handled and committed. Later appends are not waited for.
 */
export async function waitForCommits(wait: CommitWait): Promise<void> {
  const { admin, topic, groupId } = wait;
  let ends: EndOffsets | undefined;
  for (let attempt = 1; ; attempt++) {
    if (wait.stopped()) {
      throw kafkaUnavailable('consumer stopped before it caught up');
    }
    try {
      ends ??= await fetchEndOffsets(admin, topic);
      if (reached(ends, await fetchCommitted(admin, groupId, topic))) {
        return;
      }
    } catch (error) {
      if (attempt === 1 || attempt % 50 === 0) {
        wait.onError(error);
      }
    }
    await wait.sleep(wait.pollMs);
  }
}
