import type { ChatMessage, MessageStore } from '../shared/ports/index.ts';
import type { FrameData } from './connection.ts';

/** Messages read from the store per round trip while closing a gap or answering a sync. */
const FILL_PAGE = 200;

export function messageFrame(message: ChatMessage): string {
  return JSON.stringify({ type: 'message', message });
}

/** The `message` frame encoded once, for handing the same bytes to every connection of a room. */
export function encodedMessageFrame(message: ChatMessage): Buffer {
  return Buffer.from(messageFrame(message));
}

export interface SyncOutcome {
  lastSeq: number;
  complete: boolean;
}

/**
 * One room's messages on one connection, as a single ascending run of seqs with no repeats.
 *
 * `cursor` is the highest seq this connection has been given. A live message is sent directly
 * only when it is exactly cursor + 1; a gap (pub/sub lost or reordered something, or a sync is
 * running) is closed by reading the store, which holds every acked message. Work that reads the
 * store runs one task at a time, so two tasks never interleave frames of one room.
 */
export class RoomStream {
  cursor: number;
  /** Highest seq seen live that has not been delivered yet. */
  private pendingUpTo = 0;
  /** While held, live messages are only noted, to be delivered from the store later. */
  private held: boolean;
  private busy = false;
  private tail: Promise<void> = Promise.resolve();

  constructor(
    readonly roomId: string,
    cursor: number,
    held: boolean,
    private readonly store: MessageStore,
    private readonly sendText: (frame: FrameData) => boolean,
    private readonly onGap: () => void,
  ) {
    this.cursor = cursor;
    this.held = held;
  }

  /** A message from the room's channel. `frame` is its pre-serialised `message` frame. */
  live(message: ChatMessage, frame: FrameData): void {
    if (message.seq <= this.cursor) {
      return;
    }
    if (this.held || this.busy) {
      this.pendingUpTo = Math.max(this.pendingUpTo, message.seq);
      return;
    }
    if (message.seq === this.cursor + 1) {
      if (this.sendText(frame)) {
        this.cursor = message.seq;
      }
      return;
    }
    this.onGap();
    this.pendingUpTo = message.seq;
    this.run(() => this.fillTo(this.pendingUpTo));
  }

  /**
   * The room's head is `headSeq` although no live message said so (the backplane was down):
   * deliver whatever this connection is missing, from the store.
   */
  catchUpTo(headSeq: number): void {
    if (headSeq <= this.cursor) {
      return;
    }
    this.pendingUpTo = Math.max(this.pendingUpTo, headSeq);
    if (!this.held) {
      this.run(async () => undefined);
    }
  }

  /** Stops holding live messages and delivers what arrived meanwhile. */
  release(): void {
    if (!this.held) {
      return;
    }
    this.held = false;
    this.run(async () => undefined);
  }

  /**
   * Restarts the stream at the client's cursor and replays up to `limit` messages after it.
   * Live messages wait until the reply is done; an incomplete room stays held until the client
   * asks for the rest (or the caller releases it).
   */
  sync(clientCursor: number, limit: number): Promise<SyncOutcome> {
    return new Promise<SyncOutcome>((resolve, reject) => {
      this.held = true;
      this.run(async () => {
        try {
          const [head] = await this.store.page(this.roomId, { limit: 1 });
          const headSeq = head?.seq ?? 0;
          this.cursor = Math.min(clientCursor, headSeq);
          let remaining = limit;
          while (remaining > 0 && this.cursor < headSeq) {
            const page = await this.store.page(this.roomId, {
              after: this.cursor,
              limit: Math.min(remaining, FILL_PAGE),
            });
            if (!this.sendRun(page)) {
              break;
            }
            remaining -= page.length;
            if (page.length === 0) {
              break;
            }
          }
          const complete = this.cursor >= headSeq;
          if (complete) {
            this.held = false;
          }
          resolve({ lastSeq: this.cursor, complete });
        } catch (error) {
          this.held = false;
          reject(error);
        }
      });
    });
  }

  /** Sends the contiguous prefix of `page` that follows the cursor. False if the socket refused. */
  private sendRun(page: readonly ChatMessage[]): boolean {
    for (const message of page) {
      if (message.seq !== this.cursor + 1) {
        if (message.seq <= this.cursor) {
          continue;
        }
        return true;
      }
      if (!this.sendText(messageFrame(message))) {
        return false;
      }
      this.cursor = message.seq;
    }
    return true;
  }

  private async fillTo(target: number): Promise<void> {
    while (this.cursor < target) {
      const page = await this.store.page(this.roomId, { after: this.cursor, limit: FILL_PAGE });
      const before = this.cursor;
      if (!this.sendRun(page) || this.cursor === before) {
        // Nothing usable yet (the store is behind, or the socket is closing): retry on the next
        // live message rather than spin.
        return;
      }
    }
  }

  private run(task: () => Promise<void>): void {
    this.tail = this.tail.then(async () => {
      this.busy = true;
      try {
        await task();
        while (!this.held && this.pendingUpTo > this.cursor) {
          const before = this.cursor;
          await this.fillTo(this.pendingUpTo);
          if (this.cursor === before) {
            break;
          }
        }
      } catch {
        // A store read failed: the client recovers with sync; the stream stays usable.
      } finally {
        this.busy = false;
      }
    });
  }
}
