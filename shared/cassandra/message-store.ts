import { Client, policies, types } from 'cassandra-driver';
import type { DseClientOptions } from 'cassandra-driver';
import { assertNumberedMessages } from '../embedded/chat-message.ts';
import type { ChatMessage, MessageStore, NumberedMessage, PageQuery } from '../ports/messages.ts';
import { cassandraUnavailable, guard } from './errors.ts';
import { createQueries, writeTimestamp } from './queries.ts';
import type { Direction, Queries, Write } from './queries.ts';
import { assertKeyspaceName, migrateMessageStore } from './schema.ts';
import type { Replication } from './schema.ts';

export interface CassandraMessageStoreOptions {
  /** `host:port` of one or more nodes; the driver discovers the rest. */
  contactPoints: string[];
  /** The data centre whose nodes serve this process (`datacenter1` on a single node). */
  localDataCenter: string;
  /** Created at open if missing (lower-case letters, digits, _). */
  keyspace: string;
  /** Keyspace replication when it is created. Default NetworkTopologyStrategy, 1 in the local DC. */
  replication?: Replication;
  /** Messages per partition; fixed for the life of the keyspace. Default 1000. */
  bucketSize?: number;
  /** Default LOCAL_QUORUM for reads and writes. */
  consistency?: types.consistencies;
  /** A request without an answer this long fails with `unavailable`. Default 5000. */
  requestTimeoutMs?: number;
  /** TCP connect timeout per node. Default 3000. */
  connectTimeoutMs?: number;
  /** Most statements in flight for one call (put, latest). Default 64. */
  maxConcurrency?: number;
  /** TLS, auth, address translation...; the adapter sets contact points, DC and timeouts. */
  client?: Omit<DseClientOptions, 'contactPoints' | 'localDataCenter' | 'keyspace'>;
}

/** Ids of clientMsgId rows looked at per lookup; more only when seqs were overwritten. */
const CLIENT_MSG_ID_CANDIDATES = 8;
/** Bucket rows read per round trip while paging. */
const BUCKETS_PER_READ = 16;
const MAX_CQL_LIMIT = 2_147_483_647;

/**
 * The message store on Cassandra (see schema.ts for the tables and why). A put writes the
 * message rows first, then the bucket and clientMsgId index rows, so an index row never points
 * at a message that was not written; a put that failed half-way is completed by its retry
 * (every write is an idempotent upsert). Reads look up the room's buckets, then read only
 * those partitions, newest or oldest first, until the page is full.
 */
export async function openCassandraMessageStore(
  options: CassandraMessageStoreOptions,
): Promise<MessageStore> {
  const { contactPoints, localDataCenter, keyspace } = options;
  if (!Array.isArray(contactPoints) || contactPoints.length === 0) {
    throw new TypeError('openCassandraMessageStore: contactPoints must be a non-empty array');
  }
  if (typeof localDataCenter !== 'string' || localDataCenter === '') {
    throw new TypeError('openCassandraMessageStore: localDataCenter is required');
  }
  assertKeyspaceName(keyspace);
  const bucketSize = options.bucketSize ?? 1_000;
  if (!Number.isSafeInteger(bucketSize) || bucketSize < 1 || bucketSize > 100_000) {
    throw new TypeError('openCassandraMessageStore: bucketSize must be an integer in 1..100000');
  }
  const replication = options.replication ?? {
    class: 'NetworkTopologyStrategy',
    [localDataCenter]: 1,
  };
  const client = new Client({
    ...options.client,
    contactPoints,
    localDataCenter,
    socketOptions: {
      ...options.client?.socketOptions,
      connectTimeout: options.connectTimeoutMs ?? 3_000,
      readTimeout: options.requestTimeoutMs ?? 5_000,
    },
    policies: {
      // Back within seconds after a node restart (the driver's default waits up to 10 minutes).
      reconnection: new policies.reconnection.ExponentialReconnectionPolicy(100, 5_000, true),
      ...options.client?.policies,
    },
    queryOptions: {
      ...options.client?.queryOptions,
      consistency: options.consistency ?? types.consistencies.localQuorum,
    },
  });
  client.on('hostRemove', shutDownRemovedHost);
  try {
    await guard('connect', () => client.connect());
    await guard('migrate', () =>
      migrateMessageStore(client, { keyspace, replication, bucketSize }),
    );
  } catch (error) {
    await client.shutdown().catch(() => undefined);
    throw error;
  }
  const queries = createQueries(client, keyspace, options.maxConcurrency ?? 64);
  const bucketOf = (seq: number) => Math.floor(seq / bucketSize);
  let closed = false;

  async function put(messages: readonly NumberedMessage[]): Promise<void> {
    assertOpen();
    assertNumberedMessages(messages);
    // Values are taken now: the caller may change its objects while the writes run. Within one
    // call the highest fence of a (room, seq) wins, the last one among equals, as if the puts had
    // come one by one.
    const latestBySeq = new Map<string, NumberedMessage>();
    for (const message of messages) {
      const key = `${message.seq}\u0000${message.roomId}`;
      const held = latestBySeq.get(key);
      if (!held || held.fence <= message.fence) {
        latestBySeq.set(key, { ...message });
      }
    }
    const rows: Write[] = [];
    const indexes = new Map<string, Write>();
    for (const m of latestBySeq.values()) {
      const bucket = bucketOf(m.seq);
      const { sql } = queries;
      rows.push({
        query: sql.insertMessage,
        params: [
          m.roomId,
          bucket,
          m.seq,
          m.id,
          m.senderId,
          m.body,
          m.clientMsgId,
          m.createdAt,
          writeTimestamp(m.fence),
        ],
      });
      indexes.set(`b\u0000${m.roomId}\u0000${bucket}`, {
        query: sql.insertBucket,
        params: [m.roomId, bucket],
      });
      indexes.set(`c\u0000${m.roomId}\u0000${m.clientMsgId}\u0000${m.seq}`, {
        query: sql.insertClientMsgId,
        params: [m.roomId, m.clientMsgId, m.seq, writeTimestamp(m.fence)],
      });
    }
    await guard('put', async () => {
      await queries.runAll(rows);
      await queries.runAll([...indexes.values()]);
    });
  }

  async function page(roomId: string, query: PageQuery): Promise<ChatMessage[]> {
    assertOpen();
    assertPageQuery(query);
    const { after, before, limit } = query;
    const low = after === undefined ? 1 : Math.max(1, Math.floor(after) + 1);
    const high =
      before === undefined
        ? Number.MAX_SAFE_INTEGER
        : Math.min(Number.MAX_SAFE_INTEGER, Math.ceil(before) - 1);
    if (limit === 0 || high < low) {
      return [];
    }
    // Without `after`: the newest `limit` (the latest page, or scrolling back below `before`).
    // With `after`: the oldest `limit` above it (catching up), below `before` when given.
    const order: Direction = after === undefined ? 'DESC' : 'ASC';
    const found = await guard('page', () => collect(queries, roomId, { low, high, limit }, order));
    return order === 'DESC' ? found.reverse() : found;
  }

  /** Walks the room's existing buckets from one end of [low, high] until `limit` are found. */
  async function collect(
    q: Queries,
    roomId: string,
    { low, high, limit }: { low: number; high: number; limit: number },
    order: Direction,
  ): Promise<ChatMessage[]> {
    const found: ChatMessage[] = [];
    let from = bucketOf(low);
    let to = bucketOf(high);
    while (found.length < limit && from <= to) {
      const buckets = await q.buckets(roomId, from, to, BUCKETS_PER_READ, order);
      for (const bucket of buckets) {
        const want = Math.min(limit - found.length, bucketSize, MAX_CQL_LIMIT);
        found.push(...(await q.messages(roomId, bucket, { low, high, limit: want }, order)));
        if (found.length >= limit) {
          return found;
        }
      }
      const last = buckets.at(-1);
      if (last === undefined || buckets.length < BUCKETS_PER_READ) {
        break;
      }
      if (order === 'DESC') {
        to = last - 1;
      } else {
        from = last + 1;
      }
    }
    return found;
  }

  async function latest(roomIds: readonly string[]): Promise<Map<string, ChatMessage>> {
    assertOpen();
    const rooms = [...new Set(roomIds)];
    const newest = new Map<string, ChatMessage>();
    await guard('latest', async () => {
      let next = 0;
      const workers = Array.from({ length: Math.min(rooms.length, 32) }, async () => {
        while (next < rooms.length) {
          const roomId = rooms[next++] as string;
          const [message] = await collect(
            queries,
            roomId,
            { low: 1, high: Number.MAX_SAFE_INTEGER, limit: 1 },
            'DESC',
          );
          if (message) {
            newest.set(roomId, message);
          }
        }
      });
      await Promise.all(workers);
    });
    // In the order asked, like the embedded store.
    const ordered = new Map<string, ChatMessage>();
    for (const roomId of rooms) {
      const message = newest.get(roomId);
      if (message) {
        ordered.set(roomId, message);
      }
    }
    return ordered;
  }

  async function findByClientMsgId(
    roomId: string,
    clientMsgId: string,
  ): Promise<ChatMessage | undefined> {
    assertOpen();
    return guard('findByClientMsgId', async () => {
      const seqs = await queries.seqsOfClientMsgId(roomId, clientMsgId, CLIENT_MSG_ID_CANDIDATES);
      for (const seq of seqs) {
        const message = await queries.messageAt(roomId, bucketOf(seq), seq);
        // A later put may have replaced that seq with another message: never answer with it.
        if (message?.clientMsgId === clientMsgId) {
          return message;
        }
      }
      return undefined;
    });
  }

  async function close(): Promise<void> {
    if (closed) {
      return;
    }
    closed = true;
    await client.shutdown();
  }

  function assertOpen(): void {
    if (closed) {
      throw cassandraUnavailable('message store is closed');
    }
  }

  return { put, page, latest, findByClientMsgId, close };
}

/**
 * cassandra-driver 4.10 bug: when every node was unreachable, the control connection starts
 * over from the contact points and replaces the local Host with a new object
 * (control-connection.js, _setLocalInfo with `initializing`) without shutting the old one down.
 * The old pool keeps its connection, reconnect timer and health interval: a connection leaked per
 * outage, and a process that never exits after close(). Shutting a removed host down is what the
 * driver does itself for nodes that left the ring, so doing it twice there is harmless.
 */
function shutDownRemovedHost(host: unknown): void {
  const removed = host as { shutdown?: (waitForPending: boolean) => Promise<void> };
  if (typeof removed.shutdown === 'function') {
    removed.shutdown(false).catch(() => undefined);
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
