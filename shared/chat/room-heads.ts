import { AppError } from '../errors.ts';
import type { ChatMessage, MessageStore, PageQuery, Sql, SqlQuery } from '../ports/index.ts';

/**
 * The record of one committed send, kept beside the head and committed with it: enough to
 * recognise a retried clientMsgId and answer it with the original message, without the message
 * store (which may be down while the log still takes sends).
 */
export interface Receipt {
  clientMsgId: string;
  seq: number;
  messageId: string;
  senderId: string;
  /** SHA-256 of the body, base64url: a retry must carry the same body to count as one. */
  bodyDigest: string;
  createdAt: string;
}

/** What a batch may number: seqs after `head`, written with `fence`. */
export interface HeadClaim {
  head: number;
  fence: number;
  /** The committed receipts among these clientMsgIds. */
  receipts(clientMsgIds: readonly string[]): Promise<Map<string, Receipt>>;
}

/** What a batch commits: the new head, and a receipt for every seq it numbered. */
export interface HeadAdvance<T> {
  head: number;
  receipts: readonly Receipt[];
  value: T;
}

/**
 * The committed head of every room, kept in the relational store. It is the single answer to
 * "which numbered messages count": a message in the log or the store above its room's head was
 * written by a batch that never committed, and readers do not see it.
 */
export interface RoomHeads {
  /**
   * Runs `numberBatch` as the room's only writer, with the committed head and a fresh fence, and
   * commits the head it returns together with its receipts, in one statement. If `numberBatch`
   * throws, the head stays where it was and the error is rethrown.
   */
  advance<T>(
    roomId: string,
    numberBatch: (claim: HeadClaim) => Promise<HeadAdvance<T>>,
  ): Promise<T>;
  /** The committed heads of the rooms that have one (a room gets one with its first batch). */
  heads(roomIds: readonly string[]): Promise<Map<string, number>>;
  /**
   * Every room `userId` is a member of, with its committed head, in one read; `undefined` for
   * rooms that have no head yet (no batch was numbered under heads).
   */
  memberHeads(userId: string): Promise<Map<string, number | undefined>>;
}

export interface RoomHeadsOptions {
  sql: Sql;
  /** The newest seq in the store, for a room numbered before heads were kept. */
  storedHead: (roomId: string) => Promise<number>;
  /**
   * Hold the head's row lock while a batch is numbered, written and committed. Needed whenever
   * another process may number the same room; default: unless the database is this process's
   * alone (then the caller's per-room lane is the only writer).
   */
  lockRows?: boolean;
}

function asNumber(value: string | number): number {
  return typeof value === 'number' ? value : Number(value);
}

function asIso(value: string | Date): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

interface ReceiptRow {
  client_msg_id: string;
  seq: string | number;
  message_id: string;
  sender_id: string;
  body_digest: string;
  created_at: string | Date;
}

export function createRoomHeads(options: RoomHeadsOptions): RoomHeads {
  const { sql, storedHead } = options;
  const lockRows = options.lockRows ?? !sql.exclusive;

  /**
   * The head, locked when `lockRows`, and a fresh fence, in one round trip. The fence is computed
   * by the outer query from the row the locking query returns, so it is drawn only once the room
   * is ours: a fence drawn before waiting for the lock could be lower than the fence of the batch
   * that held it, and lose to that batch's leftovers.
   */
  async function claimHead(
    db: SqlQuery,
    roomId: string,
  ): Promise<{ head: number; fence: number } | null> {
    const rows = await db.query<{ head: string | number; fence: string | number }>(
      `WITH room AS (SELECT head FROM room_heads WHERE room_id = $1${lockRows ? ' FOR UPDATE' : ''})
       SELECT head, nextval('message_fences') AS fence FROM room`,
      [roomId],
    );
    const row = rows[0];
    return row === undefined ? null : { head: asNumber(row.head), fence: asNumber(row.fence) };
  }

  /** The locked (or lane-owned) head and a fence, creating the row from the store the first time. */
  async function claim(db: SqlQuery, roomId: string): Promise<{ head: number; fence: number }> {
    const claimed = await claimHead(db, roomId);
    if (claimed !== null) {
      return claimed;
    }
    // Two processes may race to create it: the loser's insert waits for the winner's commit and
    // does nothing, and its next read sees the winner's row.
    const initial = await storedHead(roomId);
    await db.query(
      'INSERT INTO room_heads (room_id, head) VALUES ($1, $2) ON CONFLICT (room_id) DO NOTHING',
      [roomId, initial],
    );
    const created = await claimHead(db, roomId);
    if (created === null) {
      throw new Error(`room head of ${roomId} vanished`);
    }
    return created;
  }

  async function receiptsOf(
    db: SqlQuery,
    roomId: string,
    head: number,
    clientMsgIds: readonly string[],
  ): Promise<Map<string, Receipt>> {
    const found = new Map<string, Receipt>();
    if (clientMsgIds.length === 0) {
      return found;
    }
    const rows = await db.query<ReceiptRow>(
      `SELECT client_msg_id, seq, message_id, sender_id, body_digest, created_at
         FROM message_receipts WHERE room_id = $1 AND client_msg_id = ANY($2::text[])`,
      [roomId, clientMsgIds],
    );
    for (const row of rows) {
      const seq = asNumber(row.seq);
      // Receipts are only written with their head, so this holds; checked all the same.
      if (seq <= head) {
        found.set(row.client_msg_id, {
          clientMsgId: row.client_msg_id,
          seq,
          messageId: row.message_id,
          senderId: row.sender_id,
          bodyDigest: row.body_digest,
          createdAt: asIso(row.created_at),
        });
      }
    }
    return found;
  }

  /** The head and the batch's receipts in one statement: atomic even outside a transaction. */
  async function commit(
    db: SqlQuery,
    roomId: string,
    head: number,
    receipts: readonly Receipt[],
  ): Promise<void> {
    await db.query(
      `WITH receipts AS (
         INSERT INTO message_receipts
           (room_id, client_msg_id, seq, message_id, sender_id, body_digest, created_at)
         SELECT $1, client_msg_id, seq, message_id, sender_id, body_digest, created_at
           FROM unnest($3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[],
                       $8::timestamptz[])
             AS r (client_msg_id, seq, message_id, sender_id, body_digest, created_at)
       )
       UPDATE room_heads SET head = $2 WHERE room_id = $1`,
      [
        roomId,
        head,
        receipts.map((r) => r.clientMsgId),
        receipts.map((r) => r.seq),
        receipts.map((r) => r.messageId),
        receipts.map((r) => r.senderId),
        receipts.map((r) => r.bodyDigest),
        receipts.map((r) => r.createdAt),
      ],
    );
  }

  async function numberUnder<T>(
    db: SqlQuery,
    roomId: string,
    numberBatch: (claim: HeadClaim) => Promise<HeadAdvance<T>>,
  ): Promise<T> {
    const { head, fence } = await claim(db, roomId);
    const outcome = await numberBatch({
      head,
      fence,
      // A statement of its own, after the lock: in READ COMMITTED a statement reads from the
      // snapshot it started with, which may predate the commit of the batch it waited for.
      receipts: (clientMsgIds) => receiptsOf(db, roomId, head, clientMsgIds),
    });
    if (outcome.head !== head) {
      if (outcome.receipts.length !== outcome.head - head) {
        throw new Error(
          `a batch numbered ${outcome.head - head} seqs with ${outcome.receipts.length} receipts`,
        );
      }
      await commit(db, roomId, outcome.head, outcome.receipts);
    }
    return outcome.value;
  }

  return {
    advance(roomId, numberBatch) {
      // TODO(send-round-trips): a batch costs five round trips to PostgreSQL (begin, lock with
      // fence, receipts, commit statement, commit) and holds a pooled connection through the log
      // append; with one sender per room every send is its own batch. This is most of ATLAS's
      // CPU per delivery end to end in bench S2/S3 and caps sends per node (docs/benchmarks.md).
      if (!lockRows) {
        return numberUnder(sql, roomId, numberBatch);
      }
      return sql.transaction((tx) => numberUnder(tx, roomId, numberBatch));
    },

    async heads(roomIds) {
      const found = new Map<string, number>();
      if (roomIds.length === 0) {
        return found;
      }
      const rows = await sql.query<{ room_id: string; head: string | number }>(
        'SELECT room_id, head FROM room_heads WHERE room_id = ANY($1::text[])',
        [roomIds],
      );
      for (const row of rows) {
        found.set(row.room_id, asNumber(row.head));
      }
      return found;
    },

    async memberHeads(userId) {
      const rows = await sql.query<{ room_id: string; head: string | number | null }>(
        `SELECT m.room_id, h.head
           FROM memberships m LEFT JOIN room_heads h ON h.room_id = m.room_id::text
          WHERE m.user_id = $1`,
        [userId],
      );
      return new Map(
        rows.map((row) => [row.room_id, row.head === null ? undefined : asNumber(row.head)]),
      );
    },
  };
}

/**
 * Where a connection of `userId` starts in each of their rooms: the committed head, or for a
 * room without one, the newest seq in the store (zero for a room with no messages).
 */
export async function roomCursors(
  roomHeads: RoomHeads,
  committed: MessageStore,
  userId: string,
): Promise<Map<string, number>> {
  const heads = await roomHeads.memberHeads(userId);
  const headless = [...heads].filter(([, head]) => head === undefined).map(([roomId]) => roomId);
  const newest = headless.length > 0 ? await committed.latest(headless) : new Map();
  const cursors = new Map<string, number>();
  for (const [roomId, head] of heads) {
    cursors.set(roomId, head ?? newest.get(roomId)?.seq ?? 0);
  }
  return cursors;
}

/** Pauses between reads of a page whose committed messages are not all stored yet (~3.5 s). */
const CATCH_UP_DELAYS_MS = [25, 50, 100, 200, 400, 700, 1000, 1000];

/** The seqs a page must hold once everything up to the head is stored (seqs are dense). */
function expectedRange(query: PageQuery & { before: number }): { low: number; high: number } {
  if (query.after === undefined) {
    return { low: Math.max(1, query.before - query.limit), high: query.before - 1 };
  }
  const low = Math.floor(query.after) + 1;
  return { low, high: Math.min(query.before - 1, low + query.limit - 1) };
}

function holdsRange(messages: readonly ChatMessage[], low: number, high: number): boolean {
  if (high < low) {
    return true;
  }
  return (
    messages.length === high - low + 1 &&
    messages.every((message) => message.seq >= low && message.seq <= high)
  );
}

export interface CommittedMessagesOptions {
  /** Pauses before rereading a page with committed messages missing; the default waits ~3.5 s. */
  catchUpDelaysMs?: readonly number[];
  sleep?: (ms: number) => Promise<void>;
}

/**
 * The message store as readers must see it: nothing above a room's committed head, and nothing
 * missing below it. A committed message is normally stored before its send is acked, but when
 * the store refused that write the log still holds the message and the persisting consumers
 * write it later: a page that finds committed seqs missing is read again while they catch up,
 * and refused as `unavailable` (retryable) if they do not in time, never answered with a hole.
 * Writes and clientMsgId lookups belong to the sequencer, which uses the store itself.
 */
export function committedMessages(
  store: MessageStore,
  roomHeads: RoomHeads,
  options: CommittedMessagesOptions = {},
): MessageStore {
  const delays = options.catchUpDelaysMs ?? CATCH_UP_DELAYS_MS;
  const sleep =
    options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  async function page(roomId: string, query: PageQuery): Promise<ChatMessage[]> {
    const head = (await roomHeads.heads([roomId])).get(roomId);
    if (head === undefined) {
      return store.page(roomId, query);
    }
    const before = Math.min(query.before ?? Number.POSITIVE_INFINITY, head + 1);
    if (before <= 1 || (query.after !== undefined && query.after >= before - 1)) {
      return [];
    }
    const capped = { ...query, before };
    const { low, high } = expectedRange(capped);
    for (let attempt = 0; ; attempt++) {
      const messages = await store.page(roomId, capped);
      if (holdsRange(messages, low, high)) {
        return messages;
      }
      const delay = delays[attempt];
      if (delay === undefined) {
        throw new AppError('unavailable', 'history is still being written, retry', 1);
      }
      await sleep(delay);
    }
  }

  return {
    put: (messages) => store.put(messages),
    page,
    async latest(roomIds) {
      const [heads, newest] = await Promise.all([roomHeads.heads(roomIds), store.latest(roomIds)]);
      const committed = new Map<string, ChatMessage>();
      for (const roomId of roomIds) {
        const message = newest.get(roomId);
        const head = heads.get(roomId);
        if (message === undefined || head === undefined || message.seq <= head) {
          if (message) {
            committed.set(roomId, message);
          }
          continue;
        }
        // Rare: the newest stored message is a leftover of a batch that did not commit.
        const [atHead] = await store.page(roomId, { before: head + 1, limit: 1 });
        if (atHead) {
          committed.set(roomId, atHead);
        }
      }
      return committed;
    },
    findByClientMsgId: (roomId, clientMsgId) => store.findByClientMsgId(roomId, clientMsgId),
    close: () => store.close(),
  };
}
