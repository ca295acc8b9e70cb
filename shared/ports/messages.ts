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
 * A message as the sequencer writes it to the log and the store: the message plus the fence of
 * the batch that numbered it. Fences come from one counter that only grows, and a batch takes
 * its fence while it holds the room's head (see docs/sequencing.md). A batch that failed may
 * still have reached the log or the store; the batch that numbers those seqs again has a higher
 * fence, and wherever two writes of one (room, seq) meet, in whatever order, the higher fence wins.
 */
export interface NumberedMessage extends ChatMessage {
  fence: number;
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
  append(messages: readonly NumberedMessage[]): Promise<void>;
  /**
   * Delivers batches from the group's committed position onwards, in log order per room. The
   * position is committed only after `handler` resolves, so a batch may be seen again after a
   * crash: handlers must be idempotent.
   */
  consume(
    group: string,
    handler: (batch: NumberedMessage[]) => Promise<void>,
  ): Promise<LogConsumer>;
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
  /**
   * Upsert keyed by (roomId, seq) that keeps the higher fence: a message is replaced only by one
   * with an equal or higher fence, so replaying an old write never undoes a newer one. Also
   * records (roomId, clientMsgId) -> seq. Reads return the messages without their fence.
   */
  put(messages: readonly NumberedMessage[]): Promise<void>;
  /**
   * Messages in ascending seq order. Without `after` it returns the newest `limit` messages
   * (below `before` when given): the latest page, or scrolling back. With `after` it returns the
   * oldest `limit` messages above it (below `before` when given): catching up.
   */
  page(roomId: string, query: PageQuery): Promise<ChatMessage[]>;
  /** The newest message of each room that has one. */
  latest(roomIds: readonly string[]): Promise<Map<string, ChatMessage>>;
  /**
   * The lowest-seq message that still carries this clientMsgId. The store does not know which
   * seqs are committed: callers compare the seq with the room's head.
   */
  findByClientMsgId(roomId: string, clientMsgId: string): Promise<ChatMessage | undefined>;
  close(): Promise<void>;
}
