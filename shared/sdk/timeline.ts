import type { ChatMessage, MessagePage } from './types.ts';

export type EntryStatus = 'pending' | 'sent' | 'failed';

/** One line of a room's timeline: a stored message, or an own send not yet acknowledged. */
export interface TimelineEntry {
  /** The clientMsgId: unique per room, and the same before and after the ack. */
  key: string;
  roomId: string;
  /** Null while pending or failed. */
  seq: number | null;
  senderId: string;
  body: string;
  clientMsgId: string;
  createdAt: string;
  status: EntryStatus;
  /** Why a failed send failed (an error code). */
  errorCode?: string;
}

export interface PendingInput {
  clientMsgId: string;
  senderId: string;
  body: string;
  createdAt?: string;
}

/**
 * A room's messages ordered by seq, with no duplicates, followed by own sends still pending.
 *
 * Invariant: every seq in (`base`, `cursor`] is held. `cursor` is what the client tells the
 * server in `sync`; messages that arrive above a gap are kept and counted once the gap fills.
 * History below the oldest held message is fetched on demand (`before`). Pure: no I/O, no timers.
 */
export class RoomTimeline {
  readonly roomId: string;
  /** Whether older history exists on the server; unknown (true) until a page said otherwise. */
  hasOlder = true;
  /** Whether the newest history page has been merged (the room was opened once). */
  historyLoaded = false;
  /** Bumped on every change, so views can skip redundant renders. */
  version = 0;

  #confirmed: ChatMessage[] = [];
  #bySeq = new Map<number, ChatMessage>();
  #pending = new Map<string, TimelineEntry>();
  #cursor = 0;

  constructor(roomId: string, baseSeq = 0) {
    this.roomId = roomId;
    this.#cursor = Math.max(0, baseSeq);
  }

  /** The last seq up to which the client holds everything it asked for: the `sync` cursor. */
  get cursor(): number {
    return this.#cursor;
  }

  /** The highest seq held, or the cursor when nothing above it is held. */
  get lastSeq(): number {
    const last = this.#confirmed.at(-1);
    return Math.max(this.#cursor, last?.seq ?? 0);
  }

  /** The lowest seq held; the `before` for scrolling back. */
  get oldestSeq(): number | undefined {
    return this.#confirmed[0]?.seq;
  }

  get size(): number {
    return this.#confirmed.length + this.#pending.size;
  }

  /**
   * Declares that messages up to `seq` are history the client does not need to hold (e.g. the
   * room's lastSeq when it was listed); it only ever moves forward.
   */
  setBaseline(seq: number): void {
    if (seq > this.#cursor) {
      this.#cursor = seq;
      this.#advance();
      this.version++;
    }
  }

  /**
   * Merges stored messages from any source (live, ack, sync, history) and returns how many were
   * new. A message already held (same seq) is dropped; one whose clientMsgId matches a pending
   * entry replaces it, whichever of ack and echo came first.
   */
  insert(messages: readonly ChatMessage[]): number {
    let added = 0;
    for (const message of messages) {
      if (message.roomId !== this.roomId || this.#bySeq.has(message.seq)) {
        continue;
      }
      this.#bySeq.set(message.seq, message);
      insertSorted(this.#confirmed, message);
      this.#pending.delete(message.clientMsgId);
      added++;
    }
    if (added > 0) {
      this.#advance();
      this.version++;
    }
    return added;
  }

  /** Merges the newest page (first open). A page that does not touch what is held replaces it. */
  applyNewestPage(page: MessagePage): number {
    const first = page.messages[0];
    if (first && first.seq > this.#cursor + 1) {
      // The held messages end below a gap the page does not cover: drop them (scroll-back
      // fetches that range again) so the window stays contiguous.
      this.#confirmed = this.#confirmed.filter((m) => m.seq >= first.seq);
      this.#bySeq = new Map(this.#confirmed.map((m) => [m.seq, m]));
      this.#cursor = first.seq - 1;
    }
    this.hasOlder = page.hasMore;
    this.historyLoaded = true;
    this.version++;
    return this.insert(page.messages);
  }

  /** Merges a scroll-back page (`before` = oldestSeq). */
  applyOlderPage(page: MessagePage): number {
    this.hasOlder = page.hasMore;
    this.version++;
    return this.insert(page.messages);
  }

  /** Shows an own send at once; it stays until its ack or echo arrives or it fails. */
  addPending(input: PendingInput): TimelineEntry {
    const entry: TimelineEntry = {
      key: input.clientMsgId,
      roomId: this.roomId,
      seq: null,
      senderId: input.senderId,
      body: input.body,
      clientMsgId: input.clientMsgId,
      createdAt: input.createdAt ?? new Date().toISOString(),
      status: 'pending',
    };
    this.#pending.set(entry.clientMsgId, entry);
    this.version++;
    return entry;
  }

  /** Marks a pending send as refused; the entry stays visible so the user can retry. */
  markFailed(clientMsgId: string, errorCode: string): boolean {
    const entry = this.#pending.get(clientMsgId);
    if (!entry) {
      return false;
    }
    this.#pending.set(clientMsgId, { ...entry, status: 'failed', errorCode });
    this.version++;
    return true;
  }

  /** Puts a failed send back to pending (before resending it with the same clientMsgId). */
  markPending(clientMsgId: string): TimelineEntry | undefined {
    const entry = this.#pending.get(clientMsgId);
    if (!entry) {
      return undefined;
    }
    const again: TimelineEntry = { ...entry, status: 'pending' };
    delete again.errorCode;
    this.#pending.set(clientMsgId, again);
    this.version++;
    return again;
  }

  removePending(clientMsgId: string): boolean {
    const removed = this.#pending.delete(clientMsgId);
    if (removed) {
      this.version++;
    }
    return removed;
  }

  pendingEntry(clientMsgId: string): TimelineEntry | undefined {
    return this.#pending.get(clientMsgId);
  }

  message(seq: number): ChatMessage | undefined {
    return this.#bySeq.get(seq);
  }

  /** Stored messages ascending by seq. */
  messages(): readonly ChatMessage[] {
    return this.#confirmed;
  }

  /** Everything to display: stored messages by seq, then pending and failed sends in order. */
  entries(): TimelineEntry[] {
    const stored = this.#confirmed.map((m): TimelineEntry => ({
      key: m.clientMsgId,
      roomId: m.roomId,
      seq: m.seq,
      senderId: m.senderId,
      body: m.body,
      clientMsgId: m.clientMsgId,
      createdAt: m.createdAt,
      status: 'sent',
    }));
    return [...stored, ...this.#pending.values()];
  }

  #advance(): void {
    while (this.#bySeq.has(this.#cursor + 1)) {
      this.#cursor++;
    }
  }
}

/** Inserts keeping ascending seq; live traffic appends, so the common case is O(1). */
function insertSorted(list: ChatMessage[], message: ChatMessage): void {
  const last = list.at(-1);
  if (!last || last.seq < message.seq) {
    list.push(message);
    return;
  }
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((list[mid]?.seq ?? 0) < message.seq) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  list.splice(lo, 0, message);
}
