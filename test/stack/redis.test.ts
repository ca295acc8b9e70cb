/**
 * The Redis adapters against a real Redis 7: every contract suite the embedded adapters pass,
 * then what only a real server can show: a restart under a live subscriber, fast failures while
 * it is down, and latencies. Needs `local/services/redis.sh start` (or ATLAS_TEST_REDIS_URL);
 * the restart test runs a private redis-server so it never disturbs the shared one.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { createRedisCache } from '../../shared/redis/cache.ts';
import { openRedisPlatformParts } from '../../shared/redis/platform.ts';
import { createRedisPresence } from '../../shared/redis/presence.ts';
import { createRedisPubSub } from '../../shared/redis/pubsub.ts';
import { createRedisRateLimiter } from '../../shared/redis/rate-limiter.ts';
import { cacheContract } from '../contracts/cache.contract.ts';
import { delay, rejectsWithCode, waitUntil } from '../contracts/helpers.ts';
import { presenceContract } from '../contracts/presence.contract.ts';
import { pubsubContract } from '../contracts/pubsub.contract.ts';
import { rateLimiterContract } from '../contracts/rate-limiter.contract.ts';
import { quiet, REDIS_URL, summarize } from './support/env.ts';
import { namespaceJanitor } from './support/redis-keys.ts';
import { freePort, startPrivateRedis } from './support/redis-server.ts';

const janitor = namespaceJanitor(REDIS_URL);
after(async () => {
  await janitor.sweep();
});

const clientOptions = (namespace: string) => ({
  namespace: janitor.track(namespace),
  onError: quiet,
});

pubsubContract('redis pubsub', (namespace) =>
  createRedisPubSub(REDIS_URL, clientOptions(namespace)),
);

presenceContract(
  'redis presence',
  ({ namespace, ttlMs }) =>
    createRedisPresence({ url: REDIS_URL, ttlMs, ...clientOptions(namespace) }),
  { clock: 'real' },
);

cacheContract(
  'redis cache',
  ({ namespace }) => createRedisCache(REDIS_URL, clientOptions(namespace)),
  {
    clock: 'real',
  },
);

rateLimiterContract(
  'redis limiter',
  ({ namespace }) => createRedisRateLimiter(REDIS_URL, clientOptions(namespace)),
  { clock: 'real' },
);

describe('redis adapters beyond the contracts', { timeout: 60_000 }, () => {
  it('keeps keys under atlas: and the namespace', async () => {
    const own = namespaceJanitor(REDIS_URL);
    const namespace = own.track(`keys-${randomUUID()}`);
    const parts = await openRedisPlatformParts(REDIS_URL, {
      namespace,
      presenceTtlMs: 5_000,
      onError: quiet,
    });
    try {
      await parts.cache.set('k', 'v', 60);
      await parts.limiter.hit('login', 5, 60_000);
      await parts.presence.connect('alice', 'c1', 'node-1');
      const swept = await own.sweep();
      assert.equal(
        swept,
        4,
        'cache, rate, presence and presence-due keys, all under atlas:<namespace>:',
      );
    } finally {
      await parts.close();
    }
  });

  it('fails to open with unavailable when nothing listens', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    await rejectsWithCode(() => createRedisCache(url, { onError: quiet }), 'unavailable');
    await rejectsWithCode(() => createRedisPubSub(url, { onError: quiet }), 'unavailable');
    await rejectsWithCode(
      () => openRedisPlatformParts(url, { presenceTtlMs: 1_000, onError: quiet }),
      'unavailable',
    );
  });

  it('resubscribes by itself after redis is killed and restarted, then calls onReconnect', async (t) => {
    const server = await startPrivateRedis();
    t.after(() => server.dispose());
    const options = { onError: quiet, reconnectMaxMs: 200, commandTimeoutMs: 1_000 };
    const subscriber = await createRedisPubSub(server.url, options);
    const publisher = await createRedisPubSub(server.url, options);
    const cache = await createRedisCache(server.url, options);
    t.after(() => Promise.all([subscriber.close(), publisher.close(), cache.close()]));
    const received: string[] = [];
    let reconnects = 0;
    subscriber.onMessage((_channel, payload) => received.push(payload));
    subscriber.onReconnect(() => {
      reconnects += 1;
    });
    await subscriber.subscribe('room:a');
    await publisher.publish('room:a', 'before');
    await waitUntil('the first payload arrives', () => received.length === 1);

    await server.kill();
    const downAt = performance.now();
    await rejectsWithCode(() => publisher.publish('room:a', 'while down'), 'unavailable');
    await rejectsWithCode(() => cache.get('k'), 'unavailable');
    const failMs = performance.now() - downAt;
    assert.ok(failMs < 500, `calls while down fail fast, took ${failMs.toFixed(0)} ms`);

    await server.start();
    const upAt = performance.now();
    await waitUntil('onReconnect fired', () => reconnects === 1, 10_000);
    const resyncMs = performance.now() - upAt;
    // Nothing is called by hand here: the adapters found their way back.
    await waitUntil(
      'a publish reaches the subscriber again',
      () => {
        void publisher.publish('room:a', 'after').catch(() => undefined);
        return received.includes('after');
      },
      10_000,
    );
    assert.equal(received[0], 'before');
    assert.ok(!received.includes('while down'));
    // The cache has a connection of its own, with its own backoff: it may come back a little
    // after the pub/sub pair, but by itself.
    const cacheDeadline = performance.now() + 10_000;
    let cacheAnswer: unknown;
    for (;;) {
      try {
        cacheAnswer = await cache.get('k');
        break;
      } catch (error) {
        if (performance.now() > cacheDeadline) {
          throw error;
        }
        await delay(20);
      }
    }
    assert.equal(cacheAnswer, undefined, 'empty: this redis keeps nothing across restarts');
    t.diagnostic(`calls while down failed in ${failMs.toFixed(1)} ms`);
    t.diagnostic(`onReconnect ${resyncMs.toFixed(0)} ms after redis came back`);
  });

  it('measures round trips on the shared redis', async (t) => {
    const namespace = janitor.track(`bench-${randomUUID()}`);
    const options = { namespace, onError: quiet };
    const publisher = await createRedisPubSub(REDIS_URL, options);
    const subscriber = await createRedisPubSub(REDIS_URL, options);
    const presence = await createRedisPresence({ url: REDIS_URL, ttlMs: 30_000, ...options });
    const cache = await createRedisCache(REDIS_URL, options);
    const limiter = await createRedisRateLimiter(REDIS_URL, options);
    t.after(() =>
      Promise.all([publisher, subscriber, presence, cache, limiter].map((part) => part.close())),
    );

    let arrived: (() => void) | undefined;
    subscriber.onMessage(() => arrived?.());
    await subscriber.subscribe('room:bench');
    const roundTrips = await sample(1_000, async () => {
      const got = new Promise<void>((resolve) => {
        arrived = resolve;
      });
      await publisher.publish('room:bench', 'x');
      await got;
    });

    let n = 0;
    const connects = await sample(1_000, async () => {
      n += 1;
      assert.equal(await presence.connect(`user-${n}`, `c-${n}`, 'node-1'), true);
    });
    const everyone = Array.from({ length: 1_000 }, (_, i) => ({
      userId: `user-${i + 1}`,
      connectionId: `c-${i + 1}`,
    }));
    const refreshStarted = performance.now();
    await presence.refresh('node-1', everyone);
    const refreshMs = performance.now() - refreshStarted;
    const onlineStarted = performance.now();
    const online = await presence.online(everyone.map((c) => c.userId));
    const onlineMs = performance.now() - onlineStarted;
    assert.equal(online.size, 1_000);

    const cacheGets = await sample(1_000, () => cache.get('missing'));
    const hits = await sample(1_000, () => limiter.hit('bench', 1_000_000, 60_000));

    t.diagnostic(`pubsub publish->deliver round trip: ${summarize(roundTrips)}`);
    t.diagnostic(`presence.connect: ${summarize(connects)}`);
    t.diagnostic(`presence.refresh of 1000 connections (one pipeline): ${refreshMs.toFixed(1)} ms`);
    t.diagnostic(`presence.online of 1000 users (one pipeline): ${onlineMs.toFixed(1)} ms`);
    t.diagnostic(`cache.get: ${summarize(cacheGets)}`);
    t.diagnostic(`limiter.hit: ${summarize(hits)}`);
  });

  it('keeps onMessage delivery when a listener throws, reporting it once per throw', async (t) => {
    const namespace = janitor.track(`report-${randomUUID()}`);
    const reported: string[] = [];
    const pubsub = await createRedisPubSub(REDIS_URL, {
      namespace,
      onError: (_error, context) => reported.push(context),
    });
    t.after(() => pubsub.close());
    const received: string[] = [];
    pubsub.onMessage(() => {
      throw new Error('listener bug');
    });
    pubsub.onMessage((_channel, payload) => received.push(payload));
    await pubsub.subscribe('room:a');
    await pubsub.publish('room:a', '1');
    await pubsub.publish('room:a', '2');
    await waitUntil('both delivered', () => received.length === 2);
    await delay(20);
    assert.deepEqual(reported, ['pubsub listener on room:a', 'pubsub listener on room:a']);
  });
});

async function sample(count: number, work: () => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await work();
    samples.push(performance.now() - started);
  }
  return samples;
}
