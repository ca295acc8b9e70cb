import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NumberedMessage, LogConsumer, MessageLog } from '../ports/messages.ts';
import { openAppendFile } from './append-file.ts';
import type { FilePosition } from './append-file.ts';
import { writeFileAtomic } from './atomic-file.ts';
import { assertNumberedMessages, decodeNumberedMessage } from './chat-message.ts';
import { startLogConsumer } from './log-consumer.ts';
import type { ConsumerFailure } from './log-consumer.ts';
import { unavailable } from './unavailable.ts';

export type { ConsumerFailure } from './log-consumer.ts';

export interface FileMessageLogOptions {
  /** Holds `log.jsonl` and `groups/`; may be shared with the message store's files. */
  dir: string;
  /** Most messages per handler call. Default 256. */
  maxBatchMessages?: number;
  /** Bytes read from the file per batch (a longer single message still comes whole). */
  maxBatchBytes?: number;
  /** First handler retry delay before jitter. Default 100. */
  retryBaseMs?: number;
  /** Cap of the doubling retry delay. Default 10_000. */
  retryMaxMs?: number;
  /** The one reporter for consumer failures; they never end a consumer. Default: console.error. */
  onError?: (error: unknown, failure: ConsumerFailure) => void;
}

const START: FilePosition = { bytes: 0, records: 0 };

/**
 * The embedded message log: every message a line in `dir/log.jsonl`, each group's committed
 * position in `dir/groups/<group>.json`. Acknowledged appends survive SIGKILL; consumers resume
 * from their last committed batch, so a batch handled just before a crash is delivered again.
 * Delivery is in append order overall, which implies the per-room order the port promises.
 * One consumer per group at a time in a process (a single partition has one owner).
 *
 * TODO(embedded-scale): one file for all rooms, never compacted or trimmed; it grows with every
 * message ever sent and is fully scanned on open.
 */
export async function openFileMessageLog(options: FileMessageLogOptions): Promise<MessageLog> {
  const { dir } = options;
  if (typeof dir !== 'string' || dir === '') {
    throw new TypeError('openFileMessageLog: dir is required');
  }
  const limits = {
    maxRecords: positiveInteger(options.maxBatchMessages ?? 256, 'maxBatchMessages'),
    maxBytes: positiveInteger(options.maxBatchBytes ?? 1 << 20, 'maxBatchBytes'),
  };
  const retry = {
    baseMs: positive(options.retryBaseMs ?? 100, 'retryBaseMs'),
    maxMs: positive(options.retryMaxMs ?? 10_000, 'retryMaxMs'),
  };
  const onError = options.onError ?? reportToConsole;
  const groupsDir = join(dir, 'groups');
  try {
    await mkdir(groupsDir, { recursive: true });
  } catch (error) {
    throw unavailable(`cannot create ${groupsDir}`, error);
  }
  const file = await openAppendFile({
    path: join(dir, 'log.jsonl'),
    decode: decodeNumberedMessage,
  });
  /** Live consumers by group, registered before their first await so two cannot start. */
  const consumers = new Map<string, Promise<LogConsumer>>();
  let closing: Promise<void> | undefined;

  async function append(messages: readonly NumberedMessage[]): Promise<void> {
    assertNumberedMessages(messages);
    await file.append(messages);
  }

  function consume(
    group: string,
    handler: (batch: NumberedMessage[]) => Promise<void>,
  ): Promise<LogConsumer> {
    if (closing) {
      return Promise.reject(unavailable('message log is closed'));
    }
    if (typeof group !== 'string' || group === '') {
      return Promise.reject(new TypeError('consume: group must be a non-empty string'));
    }
    if (consumers.has(group)) {
      return Promise.reject(new TypeError(`consume: group ${group} already has a consumer`));
    }
    const path = join(groupsDir, `${encodeURIComponent(group)}.json`);
    const started = (async function startConsumer(): Promise<LogConsumer> {
      const committed = await readPosition(path);
      const end = file.end();
      // Consumers only read fsynced records, so a position past the end means the file lost
      // durable data (a disk that lied about fsync, a restored backup): resume at the end.
      const start = committed.bytes > end.bytes ? end : committed;
      let committedBytes = start.bytes;
      const waiters: Array<{ target: number; resolve: () => void }> = [];
      const consumer = startLogConsumer({
        group,
        file,
        start,
        handler,
        commit: async (position) => {
          await writeFileAtomic(path, JSON.stringify(position));
          committedBytes = position.bytes;
          for (const waiter of waiters.filter((w) => w.target <= committedBytes)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve();
          }
        },
        limits,
        retry,
        onError,
      });
      return {
        caughtUp: function caughtUp() {
          const target = file.end().bytes;
          if (committedBytes >= target) {
            return Promise.resolve();
          }
          return new Promise<void>((resolve) => waiters.push({ target, resolve }));
        },
        stop: async function stop() {
          await consumer.stop();
          if (consumers.get(group) === started) {
            consumers.delete(group);
          }
        },
      };
    })();
    consumers.set(group, started);
    started.catch(() => consumers.delete(group));
    return started;
  }

  function close(): Promise<void> {
    closing ??= (async function closeLog() {
      const live = await Promise.allSettled(consumers.values());
      await Promise.all(
        live.map((result) => (result.status === 'fulfilled' ? result.value.stop() : undefined)),
      );
      await file.close();
    })();
    return closing;
  }

  return { append, consume, close };
}

async function readPosition(path: string): Promise<FilePosition> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return START;
    }
    throw unavailable(`cannot read consumer position ${path}`, error);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw unavailable(`consumer position ${path} is not JSON`, error);
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    !('bytes' in value) ||
    !('records' in value) ||
    !Number.isSafeInteger(value.bytes) ||
    !Number.isSafeInteger(value.records)
  ) {
    throw unavailable(`consumer position ${path} is invalid`);
  }
  return { bytes: Number(value.bytes), records: Number(value.records) };
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`openFileMessageLog: ${name} must be a positive integer`);
  }
  return value;
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new TypeError(`openFileMessageLog: ${name} must be a positive number`);
  }
  return value;
}

function reportToConsole(error: unknown, failure: ConsumerFailure): void {
  console.error('message log consumer failed', failure, error);
}
