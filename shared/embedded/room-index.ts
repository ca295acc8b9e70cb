import type { ChatMessage, PageQuery } from '../ports/messages.ts';

/**
 * The in-memory side of the message store: per room, messages in an array indexed by seq, and
 * the clientMsgId lookup. Holds its own copies; hands out copies.
 */
export interface RoomIndex {
  /** Inserts or replaces the message at (roomId, seq). */
  upsert(message: ChatMessage): void;
  page(roomId: string, query: PageQuery): ChatMessage[];
  latest(roomId: string): ChatMessage | undefined;
  /** Whether exactly this message, field for field, is already held at its seq. */
  holds(message: ChatMessage): boolean;
  findByClientMsgId(roomId: string, clientMsgId: string): ChatMessage | undefined;
}

interface Room {
  /**
   * Slot `seq` holds that message; slot 0 is never used. Seqs are dense, so holes only stand for
   * messages that have not arrived yet (the consumer may deliver out of order or repeat).
   */
  bySeq: Array<ChatMessage | undefined>;
  /**
   * clientMsgId -> the lowest seq carrying it. Two concurrent retries can both be accepted
   * before either is stored; the lowest seq is the first one acked, whatever the arrival order.
   */
  byClientMsgId: Map<string, number>;
}

export function createRoomIndex(): RoomIndex {
  const rooms = new Map<string, Room>();

  function upsert(message: ChatMessage): void {
    let room = rooms.get(message.roomId);
    if (!room) {
      room = { bySeq: [], byClientMsgId: new Map() };
      rooms.set(message.roomId, room);
    }
    room.bySeq[message.seq] = { ...message };
    const known = room.byClientMsgId.get(message.clientMsgId);
    if (known === undefined || message.seq < known) {
      room.byClientMsgId.set(message.clientMsgId, message.seq);
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

  function holds(message: ChatMessage): boolean {
    const held = rooms.get(message.roomId)?.bySeq[message.seq];
    return (
      held !== undefined &&
      held.id === message.id &&
      held.body === message.body &&
      held.senderId === message.senderId &&
      held.clientMsgId === message.clientMsgId &&
      held.createdAt === message.createdAt
    );
  }

  function latest(roomId: string): ChatMessage | undefined {
    const newest = rooms.get(roomId)?.bySeq.at(-1);
    return newest && { ...newest };
  }

  function findByClientMsgId(roomId: string, clientMsgId: string): ChatMessage | undefined {
    const room = rooms.get(roomId);
    const seq = room?.byClientMsgId.get(clientMsgId);
    const message = seq === undefined ? undefined : room?.bySeq[seq];
    // A later upsert may have replaced that seq with another message: never answer with it.
    return message?.clientMsgId === clientMsgId ? { ...message } : undefined;
  }

  return { upsert, page, latest, holds, findByClientMsgId };
}

function collect(room: Room, seq: number, found: ChatMessage[]): void {
  const message = room.bySeq[seq];
  if (message) {
    found.push({ ...message });
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
