import type { Events } from '../events.ts';
import type { ChatMessage, MessageStore } from '../ports/index.ts';
import type { Rooms, SentMark } from '../rooms/rooms.ts';
import type { Sequencer, SendResult } from './sequencer.ts';

export interface HistoryQuery {
  after?: number | undefined;
  before?: number | undefined;
  limit: number;
}

export interface HistoryPage {
  messages: ChatMessage[];
  hasMore: boolean;
}

/** Chat operations shared by the REST API and the socket, so both keep the same contract. */
export interface Messaging {
  send(userId: string, roomId: string, clientMsgId: string, body: string): Promise<SendResult>;
  history(userId: string, roomId: string, query: HistoryQuery): Promise<HistoryPage>;
  typing(userId: string, roomId: string): Promise<void>;
}

export function createMessaging(deps: {
  rooms: Rooms;
  store: MessageStore;
  sequencer: Sequencer;
  events: Events;
  report: (error: unknown) => void;
  onDuplicate?: () => void;
}): Messaging {
  const { rooms, store, sequencer, events } = deps;
  const reportReadError = deps.report;
  const sentMarks = coalescedSentMarks(rooms, reportReadError);
  return {
    async send(userId, roomId, clientMsgId, body) {
      await rooms.assertCanWrite(roomId, userId);
      const result = await sequencer.submit({ roomId, senderId: userId, clientMsgId, body });
      if (result.duplicate) {
        deps.onDuplicate?.();
      } else {
        // Whoever writes a message has read the room up to it. Not awaited: the ack must not
        // wait for it, and a failure only leaves the sender's own message counted as unread.
        sentMarks.add({ roomId, userId, seq: result.message.seq });
      }
      return result;
    },

    async history(userId, roomId, query) {
      await rooms.assertMember(roomId, userId);
      // One extra row tells whether another page exists in the direction of travel.
      const rows = await store.page(roomId, { ...query, limit: query.limit + 1 });
      const hasMore = rows.length > query.limit;
      if (!hasMore) {
        return { messages: rows, hasMore };
      }
      const scrollingBack = query.after === undefined;
      return {
        messages: scrollingBack ? rows.slice(1) : rows.slice(0, query.limit),
        hasMore,
      };
    },

    async typing(userId, roomId) {
      await rooms.assertCanWrite(roomId, userId);
      await events.toRoom(roomId, { t: 'typing', roomId, userId });
    },
  };
}

/**
 * Senders' read markers, written behind the acks: one statement for every mark that came in
 * while the previous one ran, so a busy node writes them in batches rather than one per message,
 * and an idle one writes a mark at once.
 */
function coalescedSentMarks(rooms: Rooms, report: (error: unknown) => void) {
  let pending: SentMark[] = [];
  let writing = false;

  async function writeAll(): Promise<void> {
    writing = true;
    while (pending.length > 0) {
      const marks = pending;
      pending = [];
      await rooms.markSentMany(marks).catch(report);
    }
    writing = false;
  }

  return {
    add(mark: SentMark): void {
      pending.push(mark);
      if (!writing) {
        void writeAll();
      }
    },
  };
}
