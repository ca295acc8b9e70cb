import { RoomTimeline } from './timeline.ts';
import type { ChatMessage, PublicUser, Room } from './types.ts';

export interface PresenceInfo {
  online: boolean;
  lastSeenAt: string | null;
}

/**
 * What the client knows about its rooms: each room's counters, its timeline, the members' read
 * markers, and the presence of users. Pure bookkeeping, no I/O: the client feeds it.
 *
 * Counters only move forward (`lastSeq`, `readSeq`), so a stale room list cannot undo what a
 * live event already told; `unread` is always `lastSeq - readSeq`.
 */
export class RoomStore {
  readonly selfId: string;
  #rooms = new Map<string, Room>();
  #timelines = new Map<string, RoomTimeline>();
  #reads = new Map<string, Map<string, number>>();
  #presence = new Map<string, PresenceInfo>();

  constructor(selfId: string) {
    this.selfId = selfId;
  }

  /** Rooms, most recently active first. */
  list(): Room[] {
    const activity = (r: Room) => r.lastMessage?.createdAt ?? r.createdAt;
    return [...this.#rooms.values()].sort((a, b) => activity(b).localeCompare(activity(a)));
  }

  get(roomId: string): Room | undefined {
    return this.#rooms.get(roomId);
  }

  has(roomId: string): boolean {
    return this.#rooms.has(roomId);
  }

  ids(): string[] {
    return [...this.#rooms.keys()];
  }

  /** The room's timeline, created on first use starting at the room's lastSeq (or `baseSeq`). */
  timeline(roomId: string, baseSeq?: number): RoomTimeline {
    let timeline = this.#timelines.get(roomId);
    if (!timeline) {
      timeline = new RoomTimeline(roomId, baseSeq ?? this.#rooms.get(roomId)?.lastSeq ?? 0);
      this.#timelines.set(roomId, timeline);
    }
    return timeline;
  }

  hasTimeline(roomId: string): boolean {
    return this.#timelines.has(roomId);
  }

  /**
   * Records a room from the server. `fromList` marks a full room-list fetch: a timeline that
   * holds nothing yet then starts at the listed lastSeq (older messages are history, fetched
   * when the room is opened). One that holds messages keeps its cursor, so the catch-up `sync`
   * delivers every message it missed.
   */
  upsert(room: Room, fromList: boolean): Room {
    const existing = this.#rooms.get(room.id);
    const timeline = this.#timelines.get(room.id);
    if (timeline && fromList && timeline.messages().length === 0) {
      timeline.setBaseline(room.lastSeq);
    }
    const lastSeq = Math.max(room.lastSeq, existing?.lastSeq ?? 0, timeline?.lastSeq ?? 0);
    const readSeq = Math.max(room.readSeq, existing?.readSeq ?? 0);
    const lastMessage = newer(room.lastMessage, existing?.lastMessage ?? null);
    const merged = {
      ...room,
      lastSeq,
      readSeq,
      lastMessage,
      unread: Math.max(0, lastSeq - readSeq),
    };
    this.#rooms.set(room.id, merged);
    this.timeline(room.id, room.lastSeq);
    return merged;
  }

  remove(roomId: string): boolean {
    this.#timelines.delete(roomId);
    this.#reads.delete(roomId);
    return this.#rooms.delete(roomId);
  }

  /**
   * Moves the room's counters and last message forward for stored messages. An own message
   * (sent from this or another device) counts as read: the server moves the sender's marker to
   * it without a `read` event, so the client does the same here.
   */
  noteMessages(roomId: string, messages: readonly ChatMessage[]): void {
    const room = this.#rooms.get(roomId);
    if (!room) {
      return;
    }
    let { lastSeq, lastMessage, readSeq } = room;
    for (const message of messages) {
      lastSeq = Math.max(lastSeq, message.seq);
      lastMessage = newer(message, lastMessage);
      if (message.senderId === this.selfId) {
        readSeq = Math.max(readSeq, message.seq);
      }
    }
    const unread = Math.max(0, lastSeq - readSeq);
    this.#rooms.set(roomId, { ...room, lastSeq, lastMessage, readSeq, unread });
  }

  /** Records a member's read marker; the own marker also moves the room's `readSeq`. */
  noteRead(roomId: string, userId: string, seq: number): void {
    let reads = this.#reads.get(roomId);
    if (!reads) {
      reads = new Map();
      this.#reads.set(roomId, reads);
    }
    reads.set(userId, Math.max(seq, reads.get(userId) ?? 0));
    const room = this.#rooms.get(roomId);
    if (userId === this.selfId && room && seq > room.readSeq) {
      this.#rooms.set(roomId, { ...room, readSeq: seq, unread: Math.max(0, room.lastSeq - seq) });
    }
  }

  readersOf(roomId: string): ReadonlyMap<string, number> {
    return this.#reads.get(roomId) ?? new Map<string, number>();
  }

  setPresence(userId: string, info: PresenceInfo): void {
    this.#presence.set(userId, info);
  }

  presenceOf(userId: string): PresenceInfo | undefined {
    return this.#presence.get(userId);
  }

  /** Records presence from fetched profiles (friends, contacts, members). */
  trackUsers(users: readonly PublicUser[]): void {
    for (const user of users) {
      if (typeof user.online === 'boolean') {
        this.#presence.set(user.id, { online: user.online, lastSeenAt: user.lastSeenAt ?? null });
      }
    }
  }
}

function newer(a: ChatMessage | null, b: ChatMessage | null): ChatMessage | null {
  if (!a || !b) {
    return a ?? b;
  }
  return a.seq >= b.seq ? a : b;
}
