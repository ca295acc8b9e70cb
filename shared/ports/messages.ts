/** A chat message as stored, logged, delivered and returned by every API. */
export interface ChatMessage {
  id: string;
  roomId: string;
  /** Dense, gapless, strictly increasing position in the room, starting at 1. */
  seq: number;
  senderId: string;
  body: string;
  clientMsgId: string;
  /** ISO-8601 time at which the server accepted the message. */
  createdAt: string;
}

/**
 * The message log (Kafka's role): every accepted message is appended here, durably, before the
 * sender gets its ack. Consumers read it in order per room and persist into the MessageStore.
 */
export interface MessageLog {
  /**
   * Resolves once every message is durable. Rejects with AppError('unavailable') when the log
   * cannot take them; the caller must then refuse the send, never ack it.
   */
  append(messages: readonly ChatMessage[]): Promise<void>;
  /**
   * Delivers batches from the group's committed position onwards, in log order per room. The
   * position is committed only after `handler` resolves, so a batch may be seen again after a
   * crash: handlers must be idempotent.
   */
  consume(group: string, handler: (batch: ChatMessage[]) => Promise<void>): Promise<LogConsumer>;
  close(): Promise<void>;
}

export interface LogConsumer {
  /**
   * Resolves once this consumer has handled and committed everything appended before the call.
   * Used at start-up, so the store holds all the log holds before any seq is handed out.
   */
  caughtUp(): Promise<void>;
  stop(): Promise<void>;
}

export interface PageQuery {
  /** Only messages with seq > after. */
  after?: number;
  /** Only messages with seq < before. */
  before?: number;
  limit: number;
}

/**
 * The message store (Cassandra's role): history by room, addressed by seq, plus the durable
 * clientMsgId record used to answer retried sends.
 */
export interface MessageStore {
  /** Idempotent upsert keyed by (roomId, seq); also records (roomId, clientMsgId) -> seq. */
  put(messages: readonly ChatMessage[]): Promise<void>;
  /**
   * Messages in ascending seq order. Without `after` it returns the newest `limit` messages
   * (below `before` when given): the latest page, or scrolling back. With `after` it returns the
   * oldest `limit` messages above it (below `before` when given): catching up.
   */
  page(roomId: string, query: PageQuery): Promise<ChatMessage[]>;
  /** The newest message of each room that has one. */
  latest(roomIds: readonly string[]): Promise<Map<string, ChatMessage>>;
  findByClientMsgId(roomId: string, clientMsgId: string): Promise<ChatMessage | undefined>;
  close(): Promise<void>;
}
