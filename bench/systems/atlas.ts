import { join } from 'node:path';
import { newId } from '../../shared/ids.ts';
import {
  benchDatabase,
  mintAccessTokens,
  newSigningKeyJson,
  seedRooms,
  seedUsers,
} from '../lib/seed.ts';
import { inspectFlag } from '../lib/inspector.ts';
import { inspectorPort, serverControls, startAll, startServer } from '../lib/servers.ts';
import type { Environment, StartRequest, SystemUnderTest } from './types.ts';

/** Kafka topic and Cassandra keyspace of the benchmark, apart from the tests' ones. */
export const BENCH_TOPIC = 'atlas.bench.messages';
export const BENCH_KEYSPACE = 'atlas_bench';

/**
 * ATLAS nodes as `npm start -- realtime` runs them: one process each, on the real Redis
 * backplane and PostgreSQL (the bench database), with the file message log and store in a data
 * directory per node, or Kafka and Cassandra when `durable`.
 */
export async function startAtlas(
  env: Environment,
  request: StartRequest,
): Promise<SystemUnderTest> {
  const db = benchDatabase(env.databaseUrl);
  const signingKey = await newSigningKeyJson();
  const roles = request.roles ?? ['realtime'];
  const servers = await startAll(request.nodes, (i) => {
    const port = request.basePort + i;
    const nodeEnv: Record<string, string> = {
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      ATLAS_DATA_DIR: join(request.workDir, `atlas-${i}`),
      ATLAS_SIGNING_KEY: signingKey,
      ATLAS_ACCESS_TOKEN_TTL_SECONDS: String(env.tokenTtlSeconds),
      ATLAS_MAX_CONNECTIONS: String(Math.min(19_000, request.connectionsPerNode + 500)),
      ATLAS_MAX_SOCKET_BUFFER_BYTES: String(8 << 20),
      DATABASE_URL: db.url,
      REDIS_URL: env.redisUrl,
    };
    if (request.durable) {
      Object.assign(nodeEnv, {
        KAFKA_BROKERS: env.kafkaBrokers,
        KAFKA_TOPIC: BENCH_TOPIC,
        CASSANDRA_CONTACT_POINTS: env.cassandraContactPoints,
        CASSANDRA_KEYSPACE: BENCH_KEYSPACE,
      });
    }
    return startServer({
      name: `atlas-${i}`,
      command: process.execPath,
      args: [...nodeArgs(request.workDir, i, port), 'shared/server/main.ts', ...roles],
      env: nodeEnv,
      port,
      logFile: join(request.workDir, `atlas-${i}.log`),
      readyTimeoutMs: 120_000,
    });
  });

  return {
    name: 'atlas',
    ...serverControls(servers),
    async users(count) {
      const seeded = await seedUsers(db, `u${newId().slice(24)}_`, count);
      const tokens = await mintAccessTokens(signingKey, seeded, env.tokenTtlSeconds);
      return seeded.map((user, i) => ({ id: user.id, username: user.username, token: tokens[i]! }));
    },
    createRooms: (rooms) => seedRooms(db, rooms),
    eventLoopMetrics: () => ({
      urls: servers.map((s) => `http://127.0.0.1:${s.port}/metrics`),
      metric: 'atlas_process_nodejs_eventloop_lag_p99_seconds',
    }),
  };
}

/**
 * Node flags: the inspector (for garbage collections before memory readings), and with
 * BENCH_CPU_PROF=1 V8 CPU profiles of each node, written into `<work dir>/profiles/node-<i>/`
 * when it stops (one per thread: the largest is the main one).
 */
function nodeArgs(workDir: string, node: number, port: number): string[] {
  const args = ['--import', 'tsx', inspectFlag(inspectorPort(port))];
  if (process.env.BENCH_CPU_PROF === '1') {
    args.push('--cpu-prof', `--cpu-prof-dir=${join(workDir, 'profiles', `node-${node}`)}`);
  }
  return args;
}
