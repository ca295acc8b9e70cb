import type { Kafka, Message, Producer, ProducerConfig } from 'kafkajs';
import { kafkaUnavailable, withDeadline } from './support.ts';

export interface OutgoingRecord {
  topic: string;
  key: string | Buffer | null;
  value: string | Buffer;
  headers?: Record<string, string>;
}

export interface SenderOptions {
  kafka: Kafka;
  producer: ProducerConfig;
  /** A send not acknowledged this long after it was queued rejects with `unavailable`. */
  timeoutMs: number;
  /** How long the broker may wait for all in-sync replicas (the produce request's timeout). */
  ackTimeoutMs: number;
  /** Most bytes of values coalesced into one produce request; a bigger send goes alone. */
  maxBatchBytes: number;
}

export interface Sender {
  /** Resolves once the broker acknowledged every record with acks=all. */
  send(records: readonly OutgoingRecord[]): Promise<void>;
  /** Fails what is still queued, waits for the request in flight, disconnects. */
  close(): Promise<void>;
}

interface Pending {
  records: readonly OutgoingRecord[];
  bytes: number;
  deadline: number;
  timer: NodeJS.Timeout | undefined;
  settled: boolean;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface LiveProducer {
  producer: Producer;
  connected: Promise<void>;
}

/**
 * One produce request in flight at a time; every send queued meanwhile rides in the next one
 * (group commit). Kafka then sees the appends in queue order, which keeps each room's order, and
 * the idempotent producer never has two requests racing for sequence numbers (kafkajs #598).
 *
 * After any failed or timed-out request the producer is thrown away and the next request uses a
 * new one. Its new producer id restarts the broker's sequence checks: the old producer's next
 * batch would reuse the failed batch's sequence numbers, and if that batch had in fact been
 * written, the broker would take different messages for a retry of it, drop them and ack them.
 */
export function createSender(options: SenderOptions): Sender {
  const { kafka, timeoutMs, ackTimeoutMs, maxBatchBytes } = options;
  const queue: Pending[] = [];
  let live: LiveProducer | undefined;
  let pumping: Promise<void> | undefined;
  let closed = false;

  function send(records: readonly OutgoingRecord[]): Promise<void> {
    if (closed) {
      return Promise.reject(kafkaUnavailable('message log is closed'));
    }
    if (records.length === 0) {
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const pending: Pending = {
        records,
        bytes: records.reduce((sum, record) => sum + Buffer.byteLength(record.value), 0),
        deadline: Date.now() + timeoutMs,
        timer: undefined,
        settled: false,
        resolve,
        reject,
      };
      pending.timer = setTimeout(function expire() {
        settle(pending, kafkaUnavailable(`kafka did not acknowledge within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.timer.unref();
      queue.push(pending);
      kick();
    });
  }

  function kick(): void {
    if (pumping || closed) {
      return;
    }
    pumping = pump().finally(() => {
      pumping = undefined;
      // A send queued while the loop was finishing would otherwise wait for the next one.
      if (queue.length > 0) {
        kick();
      }
    });
  }

  function settle(pending: Pending, error?: unknown): void {
    if (pending.settled) {
      return;
    }
    pending.settled = true;
    clearTimeout(pending.timer);
    const index = queue.indexOf(pending);
    if (index >= 0) {
      queue.splice(index, 1);
    }
    if (error === undefined) {
      pending.resolve();
    } else {
      pending.reject(error);
    }
  }

  async function pump(): Promise<void> {
    while (queue.length > 0 && !closed) {
      await sendOne(takeBatch());
    }
  }

  /** The oldest sends, whole, up to `maxBatchBytes` (at least one send). */
  function takeBatch(): Pending[] {
    const batch: Pending[] = [];
    let bytes = 0;
    while (queue.length > 0) {
      const next = queue[0] as Pending;
      if (batch.length > 0 && bytes + next.bytes > maxBatchBytes) {
        break;
      }
      queue.shift();
      batch.push(next);
      bytes += next.bytes;
    }
    return batch;
  }

  async function sendOne(batch: Pending[]): Promise<void> {
    const target = producer();
    const byTopic = new Map<string, Message[]>();
    for (const { records } of batch) {
      for (const { topic, key, value, headers } of records) {
        let messages = byTopic.get(topic);
        if (!messages) {
          messages = [];
          byTopic.set(topic, messages);
        }
        messages.push({ key, value, headers });
      }
    }
    const work = (async function produce() {
      await target.connected;
      await target.producer.sendBatch({
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
        acks: -1,
        timeout: ackTimeoutMs,
      });
    })();
    const deadline = Math.max(...batch.map((pending) => pending.deadline));
    try {
      await withDeadline(work, deadline - Date.now(), () =>
        kafkaUnavailable(`kafka did not acknowledge within ${timeoutMs} ms`),
      );
      batch.forEach((pending) => settle(pending));
    } catch (error) {
      // The outcome is unknown (the broker may still write it): see the note on the producer id.
      work.catch(() => undefined);
      discard(target);
      const refusal = kafkaUnavailable('kafka did not take the messages', error);
      batch.forEach((pending) => settle(pending, refusal));
    }
  }

  function producer(): LiveProducer {
    if (!live) {
      const created = kafka.producer(options.producer);
      const connected = created.connect();
      connected.catch(() => undefined);
      live = { producer: created, connected };
    }
    return live;
  }

  function discard(target: LiveProducer): void {
    if (live === target) {
      live = undefined;
    }
    target.producer.disconnect().catch(() => undefined);
  }

  async function close(): Promise<void> {
    closed = true;
    const refusal = kafkaUnavailable('message log is closed');
    [...queue].forEach((pending) => settle(pending, refusal));
    await pumping;
    if (live) {
      const last = live;
      live = undefined;
      await last.producer.disconnect().catch(() => undefined);
    }
  }

  return { send, close };
}
