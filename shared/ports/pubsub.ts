/**
 * Fan-out between realtime nodes (Redis Pub/Sub's role). At most once, per channel in publish
 * order. Interest-based: a node subscribes only to channels it has local connections for.
 */
export interface PubSub {
  publish(channel: string, payload: string): Promise<void>;
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  /** Called for every payload on a subscribed channel; each listener is isolated from the others' errors. */
  onMessage(listener: (channel: string, payload: string) => void): void;
  /**
   * Called after the connection to the backplane came back: payloads published meanwhile are
   * lost, so subscribers must catch up from durable state (clients do it with `sync`).
   */
  onReconnect(listener: () => void): void;
  close(): Promise<void>;
}

export const channels = {
  room: (roomId: string) => `room:${roomId}`,
  user: (userId: string) => `user:${userId}`,
} as const;
