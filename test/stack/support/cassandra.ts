import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect } from 'node:net';
import type { Socket } from 'node:net';
import { Client } from 'cassandra-driver';
import type { ChatMessage, MessageStore } from '../../../shared/ports/messages.ts';

/** Where the stack tests find Cassandra (`local/services/all.sh up cassandra` starts it there). */
export const CASSANDRA_CONTACT = process.env.ATLAS_TEST_CASSANDRA ?? '127.0.0.1:59042';
export const CASSANDRA_DC = process.env.ATLAS_TEST_CASSANDRA_DC ?? 'datacenter1';

/** A keyspace name no other test run uses. */
export function runKeyspace(label: string): string {
  return `atlas_test_${label}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

/** Drops exactly the keyspaces given (never by pattern: other runs keep theirs). */
export async function dropKeyspaces(keyspaces: Iterable<string>): Promise<void> {
  const client = new Client({ contactPoints: [CASSANDRA_CONTACT], localDataCenter: CASSANDRA_DC });
  await client.connect();
  try {
    for (const keyspace of keyspaces) {
      await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
    }
  } finally {
    await client.shutdown();
  }
}

/**
 * The store seen through room ids prefixed with `namespace`, so every contract test gets rooms
 * of its own in one keyspace (creating and dropping a keyspace per test costs seconds each).
 * Everything but the room id passes through unchanged.
 */
export function namespacedStore(store: MessageStore, namespace: string): MessageStore {
  const prefix = `${namespace}~`;
  const inside = (roomId: string) => prefix + roomId;
  const outside = (message: ChatMessage): ChatMessage => ({
    ...message,
    roomId: message.roomId.slice(prefix.length),
  });
  return {
    put: (messages) => store.put(messages.map((m) => ({ ...m, roomId: inside(m.roomId) }))),
    page: async (roomId, query) => (await store.page(inside(roomId), query)).map(outside),
    latest: async (roomIds) => {
      const found = await store.latest(roomIds.map(inside));
      return new Map([...found.values()].map((m) => [m.roomId.slice(prefix.length), outside(m)]));
    },
    findByClientMsgId: async (roomId, clientMsgId) => {
      const found = await store.findByClientMsgId(inside(roomId), clientMsgId);
      return found && outside(found);
    },
    close: () => store.close(),
  };
}

/**
 * A TCP proxy in front of a server that a test can cut, like a network partition: `cut()`
 * resets every connection and every new one at once; `heal()` lets them through again.
 */
export async function startTcpProxy(target: string) {
  const [host = '127.0.0.1', port = '9042'] = target.split(':');
  const sockets = new Set<Socket>();
  let broken = false;
  const server = createServer((client) => {
    if (broken) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(Number(port), host);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(a);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
      a.pipe(b);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new Error('proxy has no port');
  }
  return {
    address: `127.0.0.1:${address.port}`,
    cut() {
      broken = true;
      for (const socket of sockets) {
        socket.resetAndDestroy();
      }
    },
    heal() {
      broken = false;
    },
    async close() {
      this.cut();
      server.close();
      await once(server, 'close');
    },
  };
}
