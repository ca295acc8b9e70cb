import { Redis } from 'ioredis';
import { backoffDelayMs } from '../embedded/backoff.ts';
import { AppError } from '../errors.ts';

/** The one place every Redis adapter reports failures that no caller is waiting for. */
export type RedisErrorReporter = (error: unknown, context: string) => void;

export interface RedisClientOptions {
  /** Extra key and channel prefix after `atlas:`, e.g. per test; keys no other user shares. */
  namespace?: string;
  /** A command without a reply after this long fails with `unavailable`. Default 2000. */
  commandTimeoutMs?: number;
  /** How long opening waits for the first connection. Default 5000. */
  connectTimeoutMs?: number;
  /** First reconnect delay (then doubling, with jitter). Default 50. */
  reconnectBaseMs?: number;
  /** Longest reconnect delay. Default 2000. */
  reconnectMaxMs?: number;
  /** Default: console.error. Called at most once per outage for connection errors. */
  onError?: RedisErrorReporter;
}

/**
 * Every key and channel ATLAS writes starts with `atlas:`, so one Redis can be shared with other
 * applications and cleaned by prefix; a namespace narrows it further (tests, tenants).
 */
export function redisPrefix(namespace: string | undefined): string {
  if (namespace === undefined) {
    return 'atlas:';
  }
  if (namespace === '' || /[\s{}]/.test(namespace)) {
    throw new TypeError(`redis namespace must be non-empty without spaces or braces: ${namespace}`);
  }
  return `atlas:${namespace}:`;
}

/**
 * Opens one connection and waits until it is ready. Commands never queue while it is down:
 * they fail at once with `unavailable` (no late execution after the caller gave up), while
 * ioredis reconnects in the background with capped, jittered backoff, forever.
 */
export async function connectRedis(
  url: string,
  name: string,
  options: RedisClientOptions = {},
): Promise<Redis> {
  const report = options.onError ?? reportRedisError;
  const backoff = { baseMs: options.reconnectBaseMs ?? 50, maxMs: options.reconnectMaxMs ?? 2_000 };
  const client = new Redis(url, {
    lazyConnect: true,
    connectionName: name,
    enableOfflineQueue: false,
    // Replies lost with a dropped connection reject at once instead of being re-sent later.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // Subscriptions are restored from the adapter's own set (see pubsub.ts), not ioredis's.
    autoResubscribe: false,
    commandTimeout: options.commandTimeoutMs ?? 2_000,
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    retryStrategy: (attempt) => Math.round(backoffDelayMs(attempt, backoff)),
  });
  // ioredis emits an error per failed reconnect attempt: report the first of each outage only.
  let quiet = false;
  client.on('error', (error: unknown) => {
    if (!quiet) {
      quiet = true;
      report(error, `redis ${name}`);
    }
  });
  client.on('ready', () => {
    quiet = false;
  });
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    throw redisUnavailable(`cannot connect to redis (${name})`, error);
  }
  return client;
}

/** Opens several connections at once; if any fails, closes the others and rejects. */
export async function connectMany<const Names extends readonly string[]>(
  url: string,
  names: Names,
  options: RedisClientOptions = {},
): Promise<{ -readonly [K in keyof Names]: Redis }> {
  const opened = await Promise.allSettled(names.map((name) => connectRedis(url, name, options)));
  const failure = opened.find((result) => result.status === 'rejected');
  if (failure) {
    for (const result of opened) {
      if (result.status === 'fulfilled') {
        result.value.disconnect();
      }
    }
    throw failure.reason;
  }
  return opened.map((result) => (result as PromiseFulfilledResult<Redis>).value) as {
    -readonly [K in keyof Names]: Redis;
  };
}

/** Closes a connection: politely when it is up, at once when it is not. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // Fall through: the connection died while quitting.
    }
  }
  client.disconnect();
}

/** Redis replies that mean "not now" rather than "wrong command". */
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|OOM)\b/;

/**
 * Maps a failed command to what request paths expect: connection loss, timeouts and transient
 * server states become AppError('unavailable'); any other reply error is a bug and stays as is.
 */
export function toRedisFailure(what: string, error: unknown): unknown {
  if (error instanceof AppError || error instanceof TypeError) {
    return error;
  }
  if (
    error instanceof Error &&
    error.name === 'ReplyError' &&
    !TRANSIENT_REPLY.test(error.message)
  ) {
    return error;
  }
  return redisUnavailable(what, error);
}

export function redisUnavailable(message: string, cause?: unknown): AppError {
  const error = new AppError('unavailable', message, 1);
  if (cause !== undefined) {
    error.cause = cause;
  }
  return error;
}

/** Runs one Redis call, mapping its failure with `toRedisFailure`. */
export async function attempt<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toRedisFailure(what, error);
  }
}

/** The results of a pipeline, or the first failure in it, mapped. */
export function pipelineResults(
  what: string,
  results: Array<[error: Error | null, result: unknown]> | null,
): unknown[] {
  if (results === null) {
    throw redisUnavailable(`${what}: pipeline was discarded`);
  }
  return results.map(([error, result]) => {
    if (error) {
      throw toRedisFailure(what, error);
    }
    return result;
  });
}

export function reportRedisError(error: unknown, context: string): void {
  console.error(`${context} failed`, error);
}

/**
 * The open/closed state of an adapter that owns one client: `close` is idempotent and every
 * call after it fails with `unavailable` instead of reaching a closed connection.
 */
export function closableClient(client: Redis, name: string) {
  let closed = false;
  return {
    assertOpen(): void {
      if (closed) {
        throw redisUnavailable(`${name} is closed`);
      }
    },
    async close(): Promise<void> {
      if (!closed) {
        closed = true;
        await closeRedis(client);
      }
    },
  };
}
