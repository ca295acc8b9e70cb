import type { ChatMessage, NumberedMessage, PageQuery } from '../ports/messages.ts';
import { withoutFence } from './chat-message.ts';

/**
 * The in-memory side of the message store: per room, messages in an array indexed by seq, and
 * the clientMsgId lookup. Holds its own copies; hands out copies.
 */
export interface RoomIndex {
  /** Inserts the message at (roomId, seq), or replaces one held there with an equal or lower fence. */
  upsert(message: NumberedMessage): void;
  page(roomId: string, query: PageQuery): ChatMessage[];
  latest(roomId: string): ChatMessage | undefined;
  /** Whether this message, field for field, or one with a higher fence is held at its seq. */
  holds(message: NumberedMessage): boolean;
  findByClientMsgId(roomId: string, clientMsgId: string): ChatMessage | undefined;
}

interface Slot {
  message: ChatMessage;
  fence: number;
}

interface Room {
  /**
   * Slot `seq` holds that message; slot 0 is never used. Seqs are dense, so holes only stand for
   * messages that have not arrived yet (the consumer may deliver out of order or repeat).
   */
  bySeq: Array<Slot | undefined>;
  /**
   * clientMsgId -> every seq that was written with it, ascending. A seq written by a batch that
   * failed can be taken over by another message later, so a lookup checks each in turn.
   */
  byClientMsgId: Map<string, number[]>;
}

export function createRoomIndex(): RoomIndex {
  const rooms = new Map<string, Room>();

  function upsert(message: NumberedMessage): void {
    let room = rooms.get(message.roomId);
    if (!room) {
      room = { bySeq: [], byClientMsgId: new Map() };
      rooms.set(message.roomId, room);
    }
    const held = room.bySeq[message.seq];
    if (held && held.fence > message.fence) {
      return;
    }
    room.bySeq[message.seq] = { message: withoutFence(message), fence: message.fence };
    const seqs = room.byClientMsgId.get(message.clientMsgId);
    if (!seqs) {
      room.byClientMsgId.set(message.clientMsgId, [message.seq]);
    } else if (!seqs.includes(message.seq)) {
      seqs.push(message.seq);
      seqs.sort((a, b) => a - b);
    }
  }

  function page(roomId: string, { after, before, limit }: PageQuery): ChatMessage[] {
    assertPageQuery({ after, before, limit });
    const room = rooms.get(roomId);
    if (!room || limit === 0) {
      return [];
    }
    const top = room.bySeq.length - 1;
    const low = after === undefined ? 1 : Math.max(1, Math.floor(after) + 1);
    const high = before === undefined ? top : Math.min(top, Math.ceil(before) - 1);
    const found: ChatMessage[] = [];
    // Without `after`: the newest `limit` (the latest page, or scrolling back below `before`).
    // With `after`: the oldest `limit` above it (catching up), below `before` when given.
    if (after === undefined) {
      for (let seq = high; seq >= low && found.length < limit; seq--) {
        collect(room, seq, found);
      }
      return found.reverse();
    }
    for (let seq = low; seq <= high && found.length < limit; seq++) {
      collect(room, seq, found);
    }
    return found;
  }

  function holds(message: NumberedMessage): boolean {
    const slot = rooms.get(message.roomId)?.bySeq[message.seq];
    if (slot === undefined || slot.fence > message.fence) {
      return slot !== undefined;
    }
    const held = slot.message;
    return (
      slot.fence === message.fence &&
      held.id === message.id &&
      held.body === message.body &&
      held.senderId === message.senderId &&
      held.clientMsgId === message.clientMsgId &&
      held.createdAt === message.createdAt
    );
  }

  function latest(roomId: string): ChatMessage | undefined {
    const newest = rooms.get(roomId)?.bySeq.at(-1);
    return newest && { ...newest.message };
  }

  function findByClientMsgId(roomId: string, clientMsgId: string): ChatMessage | undefined {
    const room = rooms.get(roomId);
    for (const seq of room?.byClientMsgId.get(clientMsgId) ?? []) {
      // A later upsert may have replaced that seq with another message: never answer with it.
      const message = room?.bySeq[seq]?.message;
      if (message?.clientMsgId === clientMsgId) {
        return { ...message };
      }
    }
    return undefined;
  }

  return { upsert, page, latest, holds, findByClientMsgId };
}

function collect(room: Room, seq: number, found: ChatMessage[]): void {
  const slot = room.bySeq[seq];
  if (slot) {
    found.push({ ...slot.message });
  }
}

/** Bad paging arguments are the caller's bug; the HTTP edge validates what clients send. */
function assertPageQuery({ after, before, limit }: PageQuery): void {
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new TypeError(`page: limit must be a non-negative integer, got ${String(limit)}`);
  }
  for (const bound of [after, before]) {
    if (bound !== undefined && (typeof bound !== 'number' || Number.isNaN(bound))) {
      throw new TypeError(`page: after and before must be numbers, got ${String(bound)}`);
    }
  }
}
