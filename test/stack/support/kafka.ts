import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';
import type { ISocketFactory } from 'kafkajs';

/** Where the stack tests find Kafka (`local/services/all.sh up kafka` starts it there). */
export const KAFKA_BROKERS = (process.env.ATLAS_TEST_KAFKA_BROKERS ?? '127.0.0.1:59092').split(',');

/** A prefix no other test run uses: topics and groups of concurrent runs never meet. */
export const KAFKA_RUN = `atlas-test-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

/**
 * Remembers the topics a test file created and deletes exactly those, and the consumer groups
 * named after them, at the end (never by a broader pattern: other runs keep theirs).
 */
export function topicJanitor() {
  const topics = new Set<string>();
  return {
    track(topic: string): string {
      topics.add(topic);
      return topic;
    },
    async sweep(): Promise<number> {
      if (topics.size === 0) {
        return 0;
      }
      const admin = new Kafka({ brokers: KAFKA_BROKERS, logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      try {
        const existing = new Set(await admin.listTopics());
        const mine = [...topics].filter((topic) => existing.has(topic));
        if (mine.length > 0) {
          await admin.deleteTopics({ topics: mine, timeout: 30_000 });
        }
        // Groups of this run are named after its topics (`<topic>.<group>`).
        const { groups } = await admin.listGroups();
        const ours = groups
          .map(({ groupId }) => groupId)
          .filter((groupId) => [...topics].some((topic) => groupId.startsWith(`${topic}.`)));
        if (ours.length > 0) {
          await admin.deleteGroups(ours);
        }
        topics.clear();
        return mine.length;
      } finally {
        await admin.disconnect();
      }
    },
  };
}

/** Messages in a topic (sum of high minus low watermarks), read with a client of the test's own. */
export async function countTopicMessages(topic: string): Promise<number> {
  const admin = new Kafka({ brokers: KAFKA_BROKERS, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, { high, low }) => sum + Number(high) - Number(low), 0);
  } finally {
    await admin.disconnect();
  }
}

/**
 * A kafkajs socket factory that a test can cut off, like a network partition. `cut('reset')`
 * fails every open socket as a peer reset would and refuses new ones (a stopped broker);
 * `cut('silent')` stops reading every open socket and sends new ones to a listener that never
 * answers (a partition that drops packets: the client only learns from its timeouts).
 * `heal()` ends either. The broker advertises its own address, so a TCP proxy in front of it
 * would be bypassed; the factory sees every connection the client makes.
 */
export async function breakableSockets() {
  const open = new Set<Socket>();
  let mode: 'ok' | 'reset' | 'silent' = 'ok';
  const tarpitSockets = new Set<Socket>();
  const tarpit = createServer((socket) => {
    tarpitSockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => tarpitSockets.delete(socket));
  });
  tarpit.listen(0, '127.0.0.1');
  await once(tarpit, 'listening');
  const tarpitPort = (tarpit.address() as AddressInfo).port;

  const factory: ISocketFactory = ({ host, port, onConnect }) => {
    let socket: Socket;
    if (mode === 'reset') {
      // Port 1 refuses at once: the client sees ECONNREFUSED, as from a stopped broker.
      socket = connect(1, '127.0.0.1');
    } else if (mode === 'silent') {
      socket = connect(tarpitPort, '127.0.0.1', onConnect);
    } else {
      socket = connect(port, host, onConnect);
    }
    socket.setKeepAlive(true);
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    return socket;
  };
  return {
    factory,
    cut(how: 'reset' | 'silent') {
      mode = how;
      for (const socket of open) {
        if (how === 'silent') {
          socket.pause();
        } else {
          // With the error a peer reset gives: kafkajs fails the requests in flight on 'error'.
          socket.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
        }
      }
    },
    /** New connections go through again, and a silent partition delivers what it held. */
    heal() {
      mode = 'ok';
      for (const socket of open) {
        socket.resume();
      }
    },
    async close() {
      for (const socket of tarpitSockets) {
        socket.destroy();
      }
      tarpit.close();
      await once(tarpit, 'close');
    },
  };
}
