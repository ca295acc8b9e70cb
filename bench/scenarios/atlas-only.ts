import { Kafka, logLevel } from 'kafkajs';
import { openCassandraMessageStore } from '../../shared/cassandra/message-store.ts';
import { newLatencyHistogram, recordMs, summarize } from '../lib/histogram.ts';
import { BENCH_PASSWORD } from '../lib/seed.ts';
import type { BenchSettings } from '../settings.ts';
import { BENCH_KEYSPACE, BENCH_TOPIC } from '../systems/atlas.ts';
import type { Environment, SystemUnderTest } from '../systems/types.ts';
import type { ScenarioResult } from './fanout.ts';
import {
  connectPlans,
  layRooms,
  measured,
  phaseTimer,
  round,
  startFleet,
  until,
} from './common.ts';
import { PERSIST_GROUP } from '../../shared/platform/open.ts';

/**
 * S5: messages sent over WebSockets at a fixed rate, made durable in Kafka and persisted to
 * Cassandra. Samples the persisting consumer's lag every second, then checks that every room's
 * stored messages are exactly 1..acked.
 */
export async function durablePipeline(
  system: SystemUnderTest,
  settings: BenchSettings,
  env: Environment,
): Promise<ScenarioResult> {
  const { rooms, messagesPerSecond, durationMs } = settings.s5;
  const layout = await layRooms(system, rooms, 2);
  const fleet = await startFleet(system, settings, layout.plans.length);
  const kafka = new Kafka({ brokers: env.kafkaBrokers.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const lagSamples: number[] = [];
  const phase = phaseTimer('S5');
  try {
    await connectPlans(fleet, system, layout.plans);
    phase('connected');
    const sampler = setInterval(() => {
      consumerLag(admin).then(
        (lag) => lag >= 0 && lagSamples.push(lag),
        () => undefined,
      );
    }, 1_000);
    const run = await measured(system, () =>
      fleet.send(layout.senders, messagesPerSecond, durationMs, settings.bodyBytes),
    );
    phase('sent');
    // Acks still in flight, then the consumer: until the store holds everything acked.
    await until(async () => (await fleet.totals()).acked >= run.result.sent, 10_000);
    const totals = await fleet.totals();
    const rooms = layout.senders.map((s) => s.room);
    let stored = await countStored(env, rooms);
    for (let i = 0; i < 60 && sum([...stored.values()]) < totals.acked; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      stored = await countStored(env, rooms);
    }
    clearInterval(sampler);
    phase('persisted');
    let lost = 0;
    let extra = 0;
    for (const { room } of layout.senders) {
      const acked = totals.ackedUpTo.get(room) ?? 0;
      const count = stored.get(room) ?? 0;
      lost += Math.max(0, acked - count);
      extra += Math.max(0, count - acked);
    }
    const sortedLag = [...lagSamples].sort((a, b) => a - b);
    const lagKnown = sortedLag.length > 0;
    return {
      offeredPerSecond: messagesPerSecond,
      sent: run.result.sent,
      acked: totals.acked,
      persistedPerSecond: round(totals.acked / (durationMs / 1000), 0),
      consumerLagP99: lagKnown ? sortedLag[Math.floor(sortedLag.length * 0.99)] : null,
      consumerLagMax: lagKnown ? sortedLag.at(-1) : null,
      lostAcked: lost,
      storedBeyondAcked: extra,
      cpuMicrosPerMessage: round((run.cpuSeconds * 1e6) / Math.max(1, totals.acked)),
    };
  } finally {
    await admin.disconnect();
    await fleet.stop();
  }
}

/**
 * Messages in the topic that the persisting consumer group has not committed yet, or -1 while
 * that is unknown. The group is found by its name (ending in the persister's name) among those
 * that have committed offsets on the benchmark topic.
 */
async function consumerLag(admin: ReturnType<Kafka['admin']>): Promise<number> {
  const heads = await admin.fetchTopicOffsets(BENCH_TOPIC);
  const { groups } = await admin.listGroups();
  let best: number | undefined;
  for (const { groupId } of groups.filter((g) => g.groupId.endsWith(PERSIST_GROUP))) {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [BENCH_TOPIC] });
    const done = new Map<number, number>();
    for (const partition of committed?.partitions ?? []) {
      if (Number(partition.offset) >= 0) {
        done.set(partition.partition, Number(partition.offset));
      }
    }
    if (done.size === 0) {
      continue;
    }
    let lag = 0;
    for (const head of heads) {
      lag += Math.max(0, Number(head.high) - (done.get(head.partition) ?? Number(head.low)));
    }
    best = Math.min(best ?? lag, lag);
  }
  return best ?? -1;
}

/** Messages stored per room, counted page by page, each page checked to continue 1, 2, 3... */
async function countStored(
  env: Environment,
  rooms: readonly string[],
): Promise<Map<string, number>> {
  const store = await openCassandraMessageStore({
    contactPoints: env.cassandraContactPoints.split(','),
    localDataCenter: 'datacenter1',
    keyspace: BENCH_KEYSPACE,
    replication: { class: 'NetworkTopologyStrategy', datacenter1: 1 },
  });
  const counts = new Map<string, number>();
  try {
    for (const room of rooms) {
      let count = 0;
      for (;;) {
        const page = await store.page(room, { after: count, limit: 500 });
        const dense = page.filter((m, i) => m.seq === count + i + 1);
        count += dense.length;
        if (dense.length < 500) {
          break;
        }
      }
      counts.set(room, count);
    }
  } finally {
    await store.close();
  }
  return counts;
}

/**
 * S6: logins (argon2id verification) and token verifications (an authenticated request) per
 * second, each with `concurrency` requests in flight, against nodes running the auth role.
 */
export async function loginThroughput(
  system: SystemUnderTest,
  settings: BenchSettings,
): Promise<ScenarioResult> {
  const { users: userCount, concurrency, durationMs } = settings.s6;
  const users = await system.users(userCount);
  const bases = system.endpoints.map((e) => e.replace('ws://', 'http://'));
  const started = performance.now();
  const { hash } = await import('@node-rs/argon2');
  await hash(BENCH_PASSWORD, { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 });
  const oneHashMs = round(performance.now() - started, 1);

  const login = await flood(concurrency, durationMs, async (i) => {
    const user = users[i % users.length]!;
    const response = await fetch(`${bases[i % bases.length]}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: user.username, password: BENCH_PASSWORD }),
    });
    await response.arrayBuffer();
    return response.status === 200 ? 'ok' : `http_${response.status}`;
  });
  const verify = await flood(concurrency, durationMs, async (i) => {
    const user = users[i % users.length]!;
    const response = await fetch(`${bases[i % bases.length]}/api/me`, {
      headers: { authorization: `Bearer ${user.token}` },
    });
    await response.arrayBuffer();
    return response.status === 200 ? 'ok' : `http_${response.status}`;
  });
  return {
    hashCost: 'argon2id m=19 MiB t=2 p=1',
    oneHashMs,
    loginsPerSecond: login.perSecond,
    loginP99Ms: login.latency.p99Ms,
    loginErrors: login.errors,
    verificationsPerSecond: verify.perSecond,
    verifyP99Ms: verify.latency.p99Ms,
    verifyErrors: verify.errors,
  };
}

async function flood(
  concurrency: number,
  durationMs: number,
  request: (i: number) => Promise<string>,
) {
  const histogram = newLatencyHistogram();
  const errors: Record<string, number> = {};
  let ok = 0;
  let next = 0;
  const deadline = Date.now() + durationMs;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) {
        const t0 = performance.now();
        const outcome = await request(next++).catch(() => 'fetch_failed');
        recordMs(histogram, performance.now() - t0);
        if (outcome === 'ok') {
          ok++;
        } else {
          errors[outcome] = (errors[outcome] ?? 0) + 1;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { perSecond: round(ok / seconds, 0), latency: summarize(histogram), errors };
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
