import type { NumberedMessage, LogConsumer } from '../ports/messages.ts';
import type { AppendFile, FilePosition, ReadLimits } from './append-file.ts';
import { backoffDelayMs } from './backoff.ts';
import type { BackoffOptions } from './backoff.ts';

export interface ConsumerFailure {
  group: string;
  /** What failed: reading the log, the handler, or persisting the committed position. */
  stage: 'read' | 'handle' | 'commit';
  /** Consecutive failures at this stage so far, from 1. */
  attempt: number;
}

export interface LogConsumerOptions {
  group: string;
  file: AppendFile<NumberedMessage>;
  /** The group's committed position. */
  start: FilePosition;
  handler: (batch: NumberedMessage[]) => Promise<void>;
  /** Persists the position after a handled batch. */
  commit: (position: FilePosition) => Promise<void>;
  limits: ReadLimits;
  retry: BackoffOptions;
  onError: (error: unknown, failure: ConsumerFailure) => void;
}

/**
 * Runs one consumer loop: read the batch at the position, hand it to the handler until a call
 * resolves, commit, repeat; once caught up, wait for the next durable append (no polling).
 *
 * Invariants: the position moves past a batch only after the handler resolved for it, so every
 * message reaches a successful handler call at least once, in log order. No failure ends the
 * loop; only stop() does. Timers are unref'd: a consumer never keeps the process alive alone.
 */
export function startLogConsumer(options: LogConsumerOptions): Pick<LogConsumer, 'stop'> {
  const { group, file, handler, onError } = options;
  let position = options.start;
  let stopping = false;
  let commitFailures = 0;
  let wakeIdle: (() => void) | undefined;
  let cutSleep: (() => void) | undefined;
  const unwatch = file.watch(function onDurableAppend() {
    wakeIdle?.();
  });
  const running = run();

  async function run(): Promise<void> {
    let readFailures = 0;
    while (!stopping) {
      let batch: { records: NumberedMessage[]; next: FilePosition };
      try {
        batch = await file.read(position, options.limits);
        readFailures = 0;
      } catch (error) {
        readFailures += 1;
        onError(error, { group, stage: 'read', attempt: readFailures });
        await sleep(backoffDelayMs(readFailures, options.retry));
        continue;
      }
      if (batch.records.length === 0) {
        await idle();
        continue;
      }
      if (!(await deliver(batch.records))) {
        return;
      }
      position = batch.next;
      await commit();
    }
  }

  /** Calls the handler until a call resolves; false when stop() came first. */
  async function deliver(records: NumberedMessage[]): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        // Fresh copies per call: a handler that mutated a failed batch must not see it again.
        await handler(records.map((message) => ({ ...message })));
        return true;
      } catch (error) {
        onError(error, { group, stage: 'handle', attempt });
      }
      if (stopping) {
        return false;
      }
      await sleep(backoffDelayMs(attempt, options.retry));
      if (stopping) {
        return false;
      }
    }
  }

  /** A failed commit is reported, not retried: the next batch's commit supersedes it. */
  async function commit(): Promise<void> {
    try {
      await options.commit(position);
      commitFailures = 0;
    } catch (error) {
      commitFailures += 1;
      onError(error, { group, stage: 'commit', attempt: commitFailures });
    }
  }

  /** Resolves on the next durable append, or at once if one landed since the last read. */
  function idle(): Promise<void> {
    if (stopping || file.end().bytes > position.bytes) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      wakeIdle = function wake() {
        wakeIdle = undefined;
        resolve();
      };
    });
  }

  function sleep(delayMs: number): Promise<void> {
    if (stopping) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(wake, delayMs);
      timer.unref();
      cutSleep = wake;
      function wake() {
        clearTimeout(timer);
        cutSleep = undefined;
        resolve();
      }
    });
  }

  /** Waits for the batch in flight (and its commit); a failing batch is not retried again. */
  async function stop(): Promise<void> {
    stopping = true;
    wakeIdle?.();
    cutSleep?.();
    await running;
    unwatch();
  }

  return { stop };
}
