import { Kafka, logLevel, type KafkaConfig } from 'kafkajs';
import { AppError } from '../errors.ts';
import { fetchCommitted, fetchEndOffsets, waitForCommits } from '../kafka/topics.ts';

/**
 * The persisting consumer group seen from outside it, through a Kafka admin client of its own:
 * what /metrics reports as the group's lag, and a way to wait until the store caught up with
 * the log (for tools and tests).
 */
export interface PersistWatch {
  /**
   * Resolves once the group has committed everything the log held at the call (so the store
   * holds it); rejects with `unavailable` after `timeoutMs`.
   */
  settled(timeoutMs?: number): Promise<void>;
  /** Messages appended but not yet committed by the group, summed over the partitions. */
  lag(): Promise<number>;
  close(): Promise<void>;
}

export interface PersistWatchOptions {
  brokers: readonly string[];
  topic: string;
  groupId: string;
  /** TLS and SASL, as the other Kafka clients of the process use them. */
  kafka?: Pick<KafkaConfig, 'ssl' | 'sasl'>;
  pollMs?: number;
  onError?: (error: unknown) => void;
}

const DEFAULT_SETTLE_TIMEOUT_MS = 15_000;

export async function openPersistWatch(options: PersistWatchOptions): Promise<PersistWatch> {
  const { topic, groupId } = options;
  const admin = new Kafka({
    ...options.kafka,
    brokers: [...options.brokers],
    clientId: `atlas-watch-${process.pid}`,
    logLevel: logLevel.NOTHING,
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 },
  }).admin();
  await admin.connect();
  let closed = false;

  return {
    async settled(timeoutMs = DEFAULT_SETTLE_TIMEOUT_MS) {
      const deadline = Date.now() + timeoutMs;
      try {
        await waitForCommits({
          admin,
          topic,
          groupId,
          pollMs: options.pollMs ?? 100,
          sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
          stopped: () => closed || Date.now() > deadline,
          onError: options.onError ?? (() => undefined),
        });
      } catch {
        throw new AppError('unavailable', 'the message store has not caught up with the log', 1);
      }
    },
    async lag() {
      const [ends, committed] = await Promise.all([
        fetchEndOffsets(admin, topic),
        fetchCommitted(admin, groupId, topic),
      ]);
      let behind = 0n;
      for (const [partition, { high, low }] of ends) {
        const position = committed.get(partition) ?? -1n;
        behind += high - (position < low ? low : position);
      }
      return Number(behind);
    },
    async close() {
      closed = true;
      await admin.disconnect().catch(() => undefined);
    },
  };
}
