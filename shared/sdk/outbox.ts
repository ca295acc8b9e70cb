/** A send the server has not acknowledged yet. */
export interface OutboxItem {
  roomId: string;
  clientMsgId: string;
  body: string;
  /** How many times the frame was written to a socket. */
  attempts: number;
  /** Written on the current connection and awaiting its ack: not to be written again on it. */
  written: boolean;
}

/**
 * Unacknowledged sends in the order they were made. An item leaves only when the server has
 * the message (ack, echo or sync delivered it) or refused it for good; after a reconnect every
 * item is written again with the same clientMsgId, which the server deduplicates.
 */
export class Outbox {
  #items = new Map<string, OutboxItem>();

  add(item: { roomId: string; clientMsgId: string; body: string }): OutboxItem {
    const existing = this.#items.get(item.clientMsgId);
    if (existing) {
      return existing;
    }
    const entry: OutboxItem = { ...item, attempts: 0, written: false };
    this.#items.set(item.clientMsgId, entry);
    return entry;
  }

  get(clientMsgId: string): OutboxItem | undefined {
    return this.#items.get(clientMsgId);
  }

  has(clientMsgId: string): boolean {
    return this.#items.has(clientMsgId);
  }

  /** Records that the item was written to the socket. */
  markWritten(clientMsgId: string): void {
    const item = this.#items.get(clientMsgId);
    if (item) {
      item.written = true;
      item.attempts++;
    }
  }

  /**
   * Makes one item (a transient refusal) or every item (a new connection, on which nothing was
   * written yet) due for writing again.
   */
  rewind(clientMsgId?: string): void {
    for (const item of this.#items.values()) {
      if (clientMsgId === undefined || item.clientMsgId === clientMsgId) {
        item.written = false;
      }
    }
  }

  /** Returns true when the item was still waiting. */
  settle(clientMsgId: string): boolean {
    return this.#items.delete(clientMsgId);
  }

  /** Forgets every item of a room (the user left it). */
  dropRoom(roomId: string): void {
    for (const [id, item] of this.#items) {
      if (item.roomId === roomId) {
        this.#items.delete(id);
      }
    }
  }

  /** Items in send order, the order they are written after a reconnect. */
  items(): OutboxItem[] {
    return [...this.#items.values()];
  }

  get size(): number {
    return this.#items.size;
  }
}
