import { types } from 'cassandra-driver';
import type { Client } from 'cassandra-driver';
import type { ChatMessage } from '../ports/messages.ts';

type Row = types.Row;
const { Long } = types;
type Long = types.Long;

const MESSAGE_COLUMNS = 'room_id, seq, id, sender_id, body, client_msg_id, created_at';

export type Direction = 'ASC' | 'DESC';

/** A statement and its values, run with the others of a put by `runAll`. */
export interface Write {
  query: string;
  params: unknown[];
}

/**
 * Every statement the store runs, keyspace-qualified and prepared (the driver prepares each
 * once per connection pool and reuses it). Writes are plain upserts, marked idempotent so the
 * driver may retry them after a timeout.
 */
export function createQueries(client: Client, keyspace: string, concurrency: number) {
  const ks = keyspace;
  const sql = {
    // The write timestamp is the batch's fence (see writeTimestamp), so of two writes of one seq
    // the higher fence wins, whichever arrives last.
    insertMessage: `INSERT INTO ${ks}.messages (room_id, bucket, seq, id, sender_id, body, client_msg_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?`,
    insertBucket: `INSERT INTO ${ks}.room_buckets (room_id, bucket) VALUES (?, ?)`,
    insertClientMsgId: `INSERT INTO ${ks}.client_msg_ids (room_id, client_msg_id, seq) VALUES (?, ?, ?) USING TIMESTAMP ?`,
    buckets: (order: Direction) =>
      `SELECT bucket FROM ${ks}.room_buckets WHERE room_id = ? AND bucket >= ? AND bucket <= ? ORDER BY bucket ${order} LIMIT ?`,
    messages: (order: Direction) =>
      `SELECT ${MESSAGE_COLUMNS} FROM ${ks}.messages WHERE room_id = ? AND bucket = ? AND seq >= ? AND seq <= ? ORDER BY seq ${order} LIMIT ?`,
    messageAt: `SELECT ${MESSAGE_COLUMNS} FROM ${ks}.messages WHERE room_id = ? AND bucket = ? AND seq = ?`,
    seqsOfClientMsgId: `SELECT seq FROM ${ks}.client_msg_ids WHERE room_id = ? AND client_msg_id = ? LIMIT ?`,
  };

  async function select(query: string, params: unknown[], fetchSize = 5_000): Promise<Row[]> {
    const result = await client.execute(query, params, {
      prepare: true,
      isIdempotent: true,
      fetchSize,
    });
    return result.rows;
  }

  return {
    sql,

    /** Runs the writes, at most `concurrency` at a time, issued in array order. */
    async runAll(writes: readonly Write[]): Promise<void> {
      let next = 0;
      async function worker(): Promise<void> {
        while (next < writes.length) {
          const write = writes[next++] as Write;
          await client.execute(write.query, write.params, { prepare: true, isIdempotent: true });
        }
      }
      const workers = Array.from({ length: Math.min(concurrency, writes.length) }, worker);
      const results = await Promise.allSettled(workers);
      const failed = results.find((result) => result.status === 'rejected');
      if (failed) {
        throw failed.reason;
      }
    },

    /** The room's buckets within [low, high], at most `limit`, in `order`. */
    async buckets(roomId: string, low: number, high: number, limit: number, order: Direction) {
      const rows = await select(sql.buckets(order), [roomId, low, high, limit]);
      return rows.map((row) => toNumber(row.get('bucket')));
    },

    /** Messages of one bucket with seq in [low, high], at most `limit`, in `order`. */
    async messages(
      roomId: string,
      bucket: number,
      bounds: { low: number; high: number; limit: number },
      order: Direction,
    ): Promise<ChatMessage[]> {
      const { low, high, limit } = bounds;
      const rows = await select(sql.messages(order), [roomId, bucket, low, high, limit], limit);
      return rows.map(toMessage);
    },

    async messageAt(roomId: string, bucket: number, seq: number) {
      const [row] = await select(sql.messageAt, [roomId, bucket, seq]);
      return row && toMessage(row);
    },

    async seqsOfClientMsgId(roomId: string, clientMsgId: string, limit: number) {
      const rows = await select(sql.seqsOfClientMsgId, [roomId, clientMsgId, limit]);
      return rows.map((row) => toNumber(row.get('seq')));
    },
  };
}

export type Queries = ReturnType<typeof createQueries>;

/**
 * Fenced writes carry this plus their fence as their Cassandra write timestamp. It lies above any
 * wall-clock timestamp in microseconds until about the year 2112, so a fenced write also wins
 * over rows written before fences existed.
 */
const FENCED_WRITES_BASE = 2 ** 52;

/** The write timestamp of a row written by the batch with this fence. */
export function writeTimestamp(fence: number): types.Long {
  return Long.fromNumber(FENCED_WRITES_BASE + fence);
}

function toMessage(row: Row): ChatMessage {
  return {
    id: String(row.get('id')),
    roomId: String(row.get('room_id')),
    seq: toNumber(row.get('seq')),
    senderId: String(row.get('sender_id')),
    body: String(row.get('body')),
    clientMsgId: String(row.get('client_msg_id')),
    createdAt: String(row.get('created_at')),
  };
}

function toNumber(value: unknown): number {
  return typeof value === 'number' ? value : (value as Long).toNumber();
}
