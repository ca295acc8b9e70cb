import type { PubSub } from '../ports/pubsub.ts';
import { unavailable } from './unavailable.ts';

/**
 * What several in-process PubSub instances share, the way realtime nodes share one Redis: a
 * payload published on any of them reaches every instance subscribed to its channel.
 */
export interface MemoryBus {
  publish(channel: string, payload: string): void;
  /** Adds a receiver; returns the function that removes it. */
  attach(receiver: (channel: string, payload: string) => void): () => void;
}

export interface MemoryPubSubOptions {
  /** Shared with other instances to model several nodes; default: a bus of its own. */
  bus?: MemoryBus;
  /** The one reporter for listeners that throw. Default: console.error. */
  onError?: (error: unknown, channel: string) => void;
}

export function createMemoryBus(): MemoryBus {
  const receivers = new Set<(channel: string, payload: string) => void>();

  function publish(channel: string, payload: string): void {
    for (const receive of receivers) {
      receive(channel, payload);
    }
  }

  function attach(receiver: (channel: string, payload: string) => void): () => void {
    receivers.add(receiver);
    return function detach() {
      receivers.delete(receiver);
    };
  }

  return { publish, attach };
}

/**
 * In-process fan-out with Redis Pub/Sub's semantics. A payload is delivered when its channel is
 * subscribed both at publish time and at delivery time, so unsubscribe stops delivery at once.
 * Delivery is asynchronous (a later macrotask, never inside publish), in publish order (hence
 * in order per channel), and each listener call is isolated: one throwing skips nothing.
 * It never disconnects, so onReconnect listeners are never called.
 */
export function createMemoryPubSub(options: MemoryPubSubOptions = {}): PubSub {
  const bus = options.bus ?? createMemoryBus();
  const onError = options.onError ?? reportToConsole;
  const subscribed = new Set<string>();
  const listeners: Array<(channel: string, payload: string) => void> = [];
  let queue: Array<[channel: string, payload: string]> = [];
  let scheduled = false;
  let closed = false;
  const detach = bus.attach(function receive(channel, payload) {
    if (!subscribed.has(channel)) {
      return;
    }
    queue.push([channel, payload]);
    if (!scheduled) {
      scheduled = true;
      setImmediate(deliver);
    }
  });

  function deliver(): void {
    scheduled = false;
    const batch = queue;
    queue = [];
    for (const [channel, payload] of batch) {
      if (closed || !subscribed.has(channel)) {
        continue;
      }
      for (const listener of listeners) {
        try {
          listener(channel, payload);
        } catch (error) {
          onError(error, channel);
        }
      }
    }
  }

  async function publish(channel: string, payload: string): Promise<void> {
    assertOpen();
    bus.publish(channel, payload);
  }

  async function subscribe(channel: string): Promise<void> {
    assertOpen();
    subscribed.add(channel);
  }

  async function unsubscribe(channel: string): Promise<void> {
    assertOpen();
    subscribed.delete(channel);
  }

  function onMessage(listener: (channel: string, payload: string) => void): void {
    listeners.push(listener);
  }

  function onReconnect(_listener: () => void): void {
    // Nothing to reconnect to: no payload is ever lost to a dropped connection.
  }

  async function close(): Promise<void> {
    closed = true;
    detach();
    subscribed.clear();
    queue = [];
  }

  function assertOpen(): void {
    if (closed) {
      throw unavailable('pubsub is closed');
    }
  }

  return { publish, subscribe, unsubscribe, onMessage, onReconnect, close };
}

function reportToConsole(error: unknown, channel: string): void {
  console.error('pubsub listener failed', { channel }, error);
}
