import type { PubSub } from '../ports/pubsub.ts';
import {
  attempt,
  closeRedis,
  connectMany,
  redisPrefix,
  reportRedisError,
  redisUnavailable,
  type RedisClientOptions,
} from './connection.ts';

/**
 * Fan-out over Redis Pub/Sub on two connections: one publishes, one only subscribes (a
 * subscribed connection cannot run other commands on RESP2 servers).
 *
 * The local set of channels is the truth about what this node wants. Delivery is filtered by it,
 * so unsubscribe stops delivery at once, and after the subscriber connection comes back the set
 * is subscribed again *before* the onReconnect listeners run: whatever they then read from
 * durable state, later payloads are not missed. Payloads published while it was down are lost
 * (at most once), which is why the listeners must catch up.
 */
export async function createRedisPubSub(
  url: string,
  options: RedisClientOptions = {},
): Promise<PubSub> {
  const prefix = redisPrefix(options.namespace);
  const report = options.onError ?? reportRedisError;
  const [publisher, subscriber] = await connectMany(
    url,
    ['atlas-publisher', 'atlas-subscriber'],
    options,
  );

  const wanted = new Set<string>();
  /** In-flight SUBSCRIBEs, so a second subscribe resolves only once the channel is live. */
  const pending = new Map<string, Promise<void>>();
  const messageListeners: Array<(channel: string, payload: string) => void> = [];
  const reconnectListeners: Array<() => void> = [];
  let closed = false;
  let lostConnection = false;

  subscriber.on('message', function deliver(fullChannel: string, payload: string) {
    if (closed || !fullChannel.startsWith(prefix)) {
      return;
    }
    const channel = fullChannel.slice(prefix.length);
    if (!wanted.has(channel)) {
      return;
    }
    for (const listener of messageListeners) {
      try {
        listener(channel, payload);
      } catch (error) {
        report(error, `pubsub listener on ${channel}`);
      }
    }
  });
  subscriber.on('close', () => {
    lostConnection = true;
  });
  subscriber.on('ready', () => {
    if (lostConnection && !closed) {
      lostConnection = false;
      void resubscribe();
    }
  });

  async function resubscribe(): Promise<void> {
    const channels = [...wanted].map((channel) => prefix + channel);
    try {
      if (channels.length > 0) {
        await subscriber.subscribe(...channels);
      }
    } catch (error) {
      // The connection dropped again: the next 'ready' retries.
      report(error, 'pubsub resubscribe');
      return;
    }
    for (const listener of reconnectListeners) {
      try {
        listener();
      } catch (error) {
        report(error, 'pubsub reconnect listener');
      }
    }
  }

  async function publish(channel: string, payload: string): Promise<void> {
    assertOpen();
    await attempt('redis publish failed', () => publisher.publish(prefix + channel, payload));
  }

  function subscribe(channel: string): Promise<void> {
    assertOpen();
    if (wanted.has(channel)) {
      return pending.get(channel) ?? Promise.resolve();
    }
    wanted.add(channel);
    const done: Promise<void> = attempt('redis subscribe failed', async () => {
      await subscriber.subscribe(prefix + channel);
    }).then(
      () => {
        forget(channel, done);
      },
      (error: unknown) => {
        // Only this call's claim is withdrawn: a later subscribe of the channel owns it now.
        if (pending.get(channel) === done) {
          wanted.delete(channel);
        }
        forget(channel, done);
        throw error;
      },
    );
    pending.set(channel, done);
    return done;
  }

  function forget(channel: string, done: Promise<void>): void {
    if (pending.get(channel) === done) {
      pending.delete(channel);
    }
  }

  async function unsubscribe(channel: string): Promise<void> {
    assertOpen();
    if (!wanted.delete(channel)) {
      return;
    }
    pending.delete(channel);
    try {
      await subscriber.unsubscribe(prefix + channel);
    } catch (error) {
      // Delivery already stopped locally, and a dropped connection forgets its subscriptions.
      report(error, 'pubsub unsubscribe');
    }
  }

  function onMessage(listener: (channel: string, payload: string) => void): void {
    messageListeners.push(listener);
  }

  function onReconnect(listener: () => void): void {
    reconnectListeners.push(listener);
  }

  async function close(): Promise<void> {
    if (closed) {
      return;
    }
    closed = true;
    wanted.clear();
    pending.clear();
    await Promise.all([closeRedis(publisher), closeRedis(subscriber)]);
  }

  function assertOpen(): void {
    if (closed) {
      throw redisUnavailable('pubsub is closed');
    }
  }

  return { publish, subscribe, unsubscribe, onMessage, onReconnect, close };
}
