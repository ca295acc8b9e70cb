/**
 * The persisting group watched from outside (what processes that run no persister use to settle
 * the log, and what persisters report as lag), against a real Kafka: a topic and group of this
 * run's own, deleted at the end.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { isAppError } from '../../shared/errors.ts';
import { openKafkaMessageLog } from '../../shared/kafka/message-log.ts';
import { openPersistWatch } from '../../shared/platform/persist-watch.ts';
import { chatMessage } from '../contracts/helpers.ts';
import { KAFKA_BROKERS, KAFKA_RUN, topicJanitor } from './support/kafka.ts';

const janitor = topicJanitor();
after(() => janitor.sweep());

describe('persist watch', () => {
  it('reports the lag of the group and settles only once the group has committed the log', async () => {
    const topic = janitor.track(`${KAFKA_RUN}-watch`);
    const log = await openKafkaMessageLog({
      brokers: KAFKA_BROKERS,
      topic,
      dlqTopic: janitor.track(`${topic}-dlq`),
      partitions: 3,
      clientId: 'atlas-stack-test',
      maxAttempts: 5,
      groupPrefix: `${topic}.`,
      logger: { warn() {}, error() {} },
    });
    const watch = await openPersistWatch({
      brokers: KAFKA_BROKERS,
      topic,
      groupId: `${topic}.persist`,
      pollMs: 50,
    });
    try {
      const messages = ['a', 'b', 'c', 'd'].flatMap((room) =>
        [1, 2, 3].map((seq) => chatMessage(`${KAFKA_RUN}-${room}`, seq)),
      );
      await log.append(messages);
      assert.equal(await watch.lag(), messages.length, 'nothing persisted yet');
      await assert.rejects(watch.settled(500), (error) => {
        return isAppError(error) && error.code === 'unavailable';
      });

      const stored: string[] = [];
      const consumer = await log.consume('persist', async (batch) => {
        stored.push(...batch.map((message) => message.id));
      });
      try {
        await watch.settled(20_000);
        assert.equal(stored.length, messages.length);
        assert.equal(await watch.lag(), 0);
        await log.append([chatMessage(`${KAFKA_RUN}-a`, 4)]);
        await watch.settled(20_000);
        assert.ok(stored.includes(`${KAFKA_RUN}-a-4`), 'settled waits for the later append too');
      } finally {
        await consumer.stop();
      }
    } finally {
      await watch.close();
      await log.close();
    }
  });
});
