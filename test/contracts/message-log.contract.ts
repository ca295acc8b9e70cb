import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { NumberedMessage, LogConsumer, MessageLog } from '../../shared/ports/messages.ts';
import {
  chatMessage,
  delay,
  makeTempDir,
  rejectsWithCode,
  removeDir,
  waitUntil,
} from './helpers.ts';

export interface MessageLogContractOptions {
  /** Reopening on the same dir keeps messages and committed positions (every real log). */
  durable: boolean;
  /** How long to wait for a delivery before failing. Default 5000. */
  deliveryTimeoutMs?: number;
  /** Quiet time after which "nothing more arrives" is believed. Default 100. */
  settleMs?: number;
}

type Handler = (batch: NumberedMessage[]) => Promise<void>;

/**
 * The MessageLog contract. `open(dir)` opens a log whose state lives under (or is named after)
 * `dir`; every test gets a fresh dir, and opening the same dir again must see the same log.
 * Adapters should retry failing handlers quickly (about 10 ms) for these tests to run fast.
 */
export function messageLogContract(
  name: string,
  open: (dir: string) => Promise<MessageLog>,
  options: MessageLogContractOptions,
): void {
  const timeoutMs = options.deliveryTimeoutMs ?? 5_000;
  const settleMs = options.settleMs ?? 100;

  describe(`MessageLog contract: ${name}`, { timeout: timeoutMs * 4 }, () => {
    let dir: string;
    let logs: MessageLog[] = [];
    let consumers: LogConsumer[] = [];

    beforeEach(async () => {
      dir = await makeTempDir();
    });

    afterEach(async () => {
      await Promise.allSettled(consumers.map((consumer) => consumer.stop()));
      await Promise.allSettled(logs.map((log) => log.close()));
      logs = [];
      consumers = [];
      await removeDir(dir);
    });

    async function openLog(): Promise<MessageLog> {
      const log = await open(dir);
      logs.push(log);
      return log;
    }

    async function consume(log: MessageLog, group: string, handler: Handler) {
      const consumer = await log.consume(group, handler);
      consumers.push(consumer);
      return consumer;
    }

    /** A handler that records every batch it accepted. */
    function recorder() {
      const seen: NumberedMessage[] = [];
      const handler: Handler = async (batch) => {
        seen.push(...batch);
      };
      return { seen, handler };
    }

    function ids(messages: readonly NumberedMessage[]): string[] {
      return messages.map((message) => message.id);
    }

    function inRoom(messages: readonly NumberedMessage[], roomId: string): number[] {
      return messages.filter((message) => message.roomId === roomId).map((m) => m.seq);
    }

    function waitForCount(seen: readonly NumberedMessage[], count: number, what = 'delivered') {
      return waitUntil(`${count} messages ${what}`, () => seen.length >= count, timeoutMs);
    }

    it('delivers every appended message once, in order per room', async () => {
      const log = await openLog();
      const sent: NumberedMessage[] = [];
      for (let seq = 1; seq <= 10; seq++) {
        sent.push(chatMessage('room-a', seq), chatMessage('room-b', seq));
      }
      for (let i = 0; i < sent.length; i += 4) {
        await log.append(sent.slice(i, i + 4));
      }
      const { seen, handler } = recorder();
      await consume(log, 'group-1', handler);
      await waitForCount(seen, sent.length);
      await delay(settleMs);
      assert.equal(seen.length, sent.length, 'no message is delivered twice');
      assert.deepEqual(inRoom(seen, 'room-a'), inRoom(sent, 'room-a'));
      assert.deepEqual(inRoom(seen, 'room-b'), inRoom(sent, 'room-b'));
      // The port promises order per room only: find the first message wherever it arrived.
      assert.deepEqual(
        seen.find((message) => message.id === sent[0]?.id),
        sent[0],
        'messages arrive unchanged',
      );
    });

    it('resolves an empty append and delivers nothing for it', async () => {
      const log = await openLog();
      await log.append([]);
      const { seen, handler } = recorder();
      await consume(log, 'group-1', handler);
      await delay(settleMs);
      assert.deepEqual(seen, []);
    });

    it('tails messages appended after the consumer caught up', async () => {
      const log = await openLog();
      const { seen, handler } = recorder();
      await consume(log, 'group-1', handler);
      for (let seq = 1; seq <= 3; seq++) {
        await delay(20);
        await log.append([chatMessage('room-a', seq)]);
        await waitForCount(seen, seq);
      }
      assert.deepEqual(inRoom(seen, 'room-a'), [1, 2, 3]);
    });

    it('delivers each of many concurrent appends exactly once', async () => {
      const log = await openLog();
      const sent = Array.from({ length: 100 }, (_, i) => chatMessage(`room-${i % 5}`, i + 1));
      await Promise.all(sent.map((message) => log.append([message])));
      const { seen, handler } = recorder();
      await consume(log, 'group-1', handler);
      await waitForCount(seen, sent.length);
      await delay(settleMs);
      assert.deepEqual(ids(seen).sort(), ids(sent).sort());
    });

    it('redelivers a batch whose handler threw, skipping nothing', async () => {
      const log = await openLog();
      const sent = Array.from({ length: 10 }, (_, i) => chatMessage('room-a', i + 1));
      await log.append(sent);
      let failedBatch: NumberedMessage[] | undefined;
      const accepted: NumberedMessage[][] = [];
      await consume(log, 'group-1', async (batch) => {
        if (!failedBatch) {
          failedBatch = batch;
          throw new Error('handler fails once');
        }
        accepted.push(batch);
      });
      await waitUntil('all accepted', () => accepted.flat().length >= sent.length, timeoutMs);
      assert.ok(failedBatch && failedBatch.length > 0);
      assert.equal(accepted[0]?.[0]?.id, failedBatch[0]?.id, 'retry starts where it failed');
      assert.deepEqual(ids(accepted.flat()), ids(sent), 'nothing skipped, nothing repeated');
    });

    it('commits only after the handler resolved: a new consumer resumes there', async () => {
      const log = await openLog();
      const first = Array.from({ length: 5 }, (_, i) => chatMessage('room-a', i + 1));
      const second = Array.from({ length: 5 }, (_, i) => chatMessage('room-a', i + 6));
      const { seen, handler } = recorder();
      let failing = false;
      let failures = 0;
      const consumer = await consume(log, 'group-1', async (batch) => {
        if (failing) {
          failures += 1;
          throw new Error('handler keeps failing');
        }
        await handler(batch);
      });
      await log.append(first);
      await waitForCount(seen, first.length);
      failing = true;
      await log.append(second);
      await waitUntil('the handler failed twice', () => failures >= 2, timeoutMs);
      await consumer.stop();

      const resumed = recorder();
      await consume(log, 'group-1', resumed.handler);
      await waitForCount(resumed.seen, second.length);
      await delay(settleMs);
      assert.deepEqual(ids(resumed.seen), ids(second));
    });

    it('keeps failing consumers alive and other groups unaffected', async () => {
      const log = await openLog();
      const sent = Array.from({ length: 6 }, (_, i) => chatMessage('room-a', i + 1));
      await log.append(sent);
      let failures = 0;
      const broken = await consume(log, 'group-b', async () => {
        failures += 1;
        throw new Error('always fails');
      });
      const healthy = recorder();
      await consume(log, 'group-a', healthy.handler);
      await waitForCount(healthy.seen, sent.length);
      await waitUntil('group-b retried', () => failures >= 3, timeoutMs);
      await broken.stop();

      const late = recorder();
      await consume(log, 'group-b', late.handler);
      await waitForCount(late.seen, sent.length);
      assert.deepEqual(ids(healthy.seen), ids(sent));
      assert.deepEqual(ids(late.seen), ids(sent), 'group-b committed nothing while failing');
    });

    it('stop() waits for the batch in flight and ends deliveries', async () => {
      const log = await openLog();
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let calls = 0;
      let finished = false;
      const consumer = await consume(log, 'group-1', async () => {
        calls += 1;
        await gate;
        finished = true;
      });
      await log.append([chatMessage('room-a', 1)]);
      await waitUntil('the handler started', () => calls === 1, timeoutMs);
      let stopped = false;
      const stopping = consumer.stop().then(() => {
        stopped = true;
      });
      await delay(settleMs);
      assert.equal(stopped, false, 'stop() resolved while the handler was running');
      release();
      await stopping;
      assert.equal(finished, true);
      await log.append([chatMessage('room-a', 2)]);
      await delay(settleMs);
      assert.equal(calls, 1, 'a stopped consumer received a batch');
    });

    it('rejects append after close with unavailable', async () => {
      const log = await openLog();
      await log.close();
      await rejectsWithCode(() => log.append([chatMessage('room-a', 1)]), 'unavailable');
    });

    if (options.durable) {
      it('keeps messages and committed positions across close and reopen', async () => {
        const before = Array.from({ length: 5 }, (_, i) => chatMessage('room-a', i + 1));
        const after = Array.from({ length: 3 }, (_, i) => chatMessage('room-a', i + 6));
        const log = await openLog();
        await log.append(before);
        const first = recorder();
        const consumer = await consume(log, 'group-1', first.handler);
        await waitForCount(first.seen, before.length);
        await consumer.stop();
        await log.close();

        const reopened = await openLog();
        await reopened.append(after);
        const resumed = recorder();
        await consume(reopened, 'group-1', resumed.handler);
        const fresh = recorder();
        await consume(reopened, 'group-2', fresh.handler);
        await waitForCount(resumed.seen, after.length);
        await waitForCount(fresh.seen, before.length + after.length);
        await delay(settleMs);
        assert.deepEqual(ids(resumed.seen), ids(after), 'group-1 resumes after its commit');
        assert.deepEqual(ids(fresh.seen), ids([...before, ...after]), 'a new group sees all');
      });
    }
  });
}
