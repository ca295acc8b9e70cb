import { logLevel } from 'kafkajs';
import type { LogEntry, logCreator } from 'kafkajs';
import { AppError, isAppError } from '../errors.ts';

/**
 * The part of a structured logger the Kafka adapter uses; a pino Logger fits. Fields are
 * snake_case; message bodies are never passed in.
 */
export interface KafkaLogger {
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export const consoleLogger: KafkaLogger = {
  warn: (fields, message) => console.warn(message, fields),
  error: (fields, message) => console.error(message, fields),
};

/** Every Kafka failure a caller sees: the log cannot take or give messages right now. */
export function kafkaUnavailable(message: string, cause?: unknown): AppError {
  if (isAppError(cause)) {
    return cause;
  }
  const error = new AppError('unavailable', message, 1);
  if (cause !== undefined) {
    error.cause = cause;
  }
  return error;
}

/**
 * Routes kafkajs's own warnings and errors into the adapter's logger (kafkajs logs each retry of
 * a failing request; the adapter's callers already get one coded rejection per failure).
 */
export function kafkaLogCreator(logger: KafkaLogger): logCreator {
  return function createKafkaLog() {
    return function writeKafkaLog({ namespace, level, log }: LogEntry) {
      const { message, timestamp: _timestamp, ...extra } = log;
      // Said of every new idempotent producer with bounded retries. The adapter bounds them on
      // purpose and replaces the producer after a failed send (see sender.ts).
      if (message.startsWith('Limiting retries for the idempotent producer')) {
        return;
      }
      const fields = { kafka_namespace: namespace, ...snakeKeys(extra) };
      if (level === logLevel.ERROR) {
        logger.error(fields, `kafkajs: ${message}`);
      } else {
        logger.warn(fields, `kafkajs: ${message}`);
      }
    };
  };
}

function snakeKeys(fields: Record<string, unknown>): Record<string, unknown> {
  const renamed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    renamed[key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)] = value;
  }
  return renamed;
}

/** A sleep that `cut()` ends early; the timer never keeps the process alive. */
export function cuttableSleep(): { sleep(ms: number): Promise<void>; cut(): void } {
  const waking = new Set<() => void>();
  return {
    sleep(ms) {
      return new Promise((resolve) => {
        const timer = setTimeout(wake, ms);
        timer.unref();
        waking.add(wake);
        function wake() {
          clearTimeout(timer);
          waking.delete(wake);
          resolve();
        }
      });
    },
    cut() {
      for (const wake of [...waking]) {
        wake();
      }
    },
  };
}

/** Resolves or rejects like `work`, or rejects with `onTimeout()` after `ms`. */
export function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), Math.max(0, ms));
    timer.unref();
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

export function errorFields(error: unknown): Record<string, unknown> {
  if (error instanceof Error) {
    return { err_name: error.name, err_message: error.message };
  }
  return { err_message: String(error) };
}
