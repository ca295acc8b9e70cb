import type { Client } from 'cassandra-driver';

export type Replication = Record<string, string | number>;

export interface MessageStoreSchema {
  keyspace: string;
  replication: Replication;
  bucketSize: number;
}

/**
 * The message store's tables. Every statement is idempotent (IF NOT EXISTS), so each process
 * runs them at open; nothing here ever alters or drops.
 *
 * - messages: one partition per (room, bucket), bucket = floor(seq / bucketSize), rows by seq.
 *   A partition stays small (bucketSize rows) however long a room lives, and a page of history
 *   is one partition read, two at a bucket boundary.
 * - room_buckets: the buckets each room has, newest first. Inserting a bucket again changes
 *   nothing, so writers racing or replaying out of order can never move it backwards (a "last
 *   seq" column could, without a lightweight transaction on every put).
 * - client_msg_ids: (room, clientMsgId) -> every seq put with it, lowest first: the lowest one
 *   is the answer, whatever order the puts came in, without a read before the write.
 * - store_settings: the bucket size the data was written with; opening with another one would
 *   silently look for messages in the wrong partitions, so it is refused.
 */
export function schemaStatements({ keyspace, replication }: MessageStoreSchema): string[] {
  return [
    `CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = ${replicationLiteral(replication)}`,
    `CREATE TABLE IF NOT EXISTS ${keyspace}.messages (
      room_id text, bucket bigint, seq bigint,
      id text, sender_id text, body text, client_msg_id text, created_at text,
      PRIMARY KEY ((room_id, bucket), seq)
    ) WITH CLUSTERING ORDER BY (seq ASC)`,
    `CREATE TABLE IF NOT EXISTS ${keyspace}.room_buckets (
      room_id text, bucket bigint,
      PRIMARY KEY ((room_id), bucket)
    ) WITH CLUSTERING ORDER BY (bucket DESC)`,
    `CREATE TABLE IF NOT EXISTS ${keyspace}.client_msg_ids (
      room_id text, client_msg_id text, seq bigint,
      PRIMARY KEY ((room_id, client_msg_id), seq)
    ) WITH CLUSTERING ORDER BY (seq ASC)`,
    `CREATE TABLE IF NOT EXISTS ${keyspace}.store_settings (name text PRIMARY KEY, value text)`,
  ];
}

export async function migrateMessageStore(client: Client, schema: MessageStoreSchema) {
  for (const statement of schemaStatements(schema)) {
    await client.execute(statement);
  }
  const { keyspace, bucketSize } = schema;
  // A lightweight transaction, once per open: the first store to open decides the bucket size.
  const result = await client.execute(
    `INSERT INTO ${keyspace}.store_settings (name, value) VALUES ('bucket_size', ?) IF NOT EXISTS`,
    [String(bucketSize)],
    { prepare: true },
  );
  if (!result.wasApplied()) {
    const stored = String(result.first()?.get('value'));
    if (stored !== String(bucketSize)) {
      throw new TypeError(
        `openCassandraMessageStore: keyspace ${keyspace} was written with bucketSize ${stored}, not ${bucketSize}`,
      );
    }
  }
}

export function assertKeyspaceName(keyspace: string): void {
  if (typeof keyspace !== 'string' || !/^[a-z][a-z0-9_]{0,47}$/.test(keyspace)) {
    throw new TypeError(
      'openCassandraMessageStore: keyspace must be lower-case letters, digits and _ (max 48)',
    );
  }
}

function replicationLiteral(replication: Replication): string {
  const entries = Object.entries(replication).map(([key, value]) => {
    const text = String(value);
    if (!/^[A-Za-z0-9_.-]+$/.test(key) || !/^[A-Za-z0-9_.-]+$/.test(text)) {
      throw new TypeError(`openCassandraMessageStore: bad replication entry ${key}: ${text}`);
    }
    return `'${key}': '${text}'`;
  });
  if (!('class' in replication)) {
    throw new TypeError('openCassandraMessageStore: replication needs a class');
  }
  return `{${entries.join(', ')}}`;
}
