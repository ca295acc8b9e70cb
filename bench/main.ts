import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineLoad } from './lib/proc.ts';
import { resetBenchDatabase, benchDatabase } from './lib/seed.ts';
import { portAccepts, sleep } from './lib/servers.ts';
import { serverRssBytes } from './scenarios/common.ts';
import { durablePipeline, loginThroughput } from './scenarios/atlas-only.ts';
import {
  bigRoomBroadcast,
  connectionsHeld,
  fanoutLatency,
  fanoutThroughput,
  type ScenarioResult,
} from './scenarios/fanout.ts';
import { reconnectStorm } from './scenarios/reconnect.ts';
import { FULL, QUICK, type BenchSettings } from './settings.ts';
import { startAtlas } from './systems/atlas.ts';
import { installCentrifugo, startCentrifugo } from './systems/centrifugo.ts';
import { startSocketIo } from './systems/socketio.ts';
import type { Environment, StartRequest, SystemUnderTest } from './systems/types.ts';
import { writeReport } from './report.ts';

/**
 * `npm run bench [-- --quick] [--only S2,S3] [--systems atlas,socketio,centrifugo]`: runs the
 * scenarios against ATLAS and its peers one after another on this machine, writes the raw
 * results to bench/results/<time>.json and the tables and charts to docs/benchmarks.md.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SYSTEMS = ['atlas', 'socketio', 'centrifugo'] as const;
type SystemName = (typeof SYSTEMS)[number];
const SCENARIOS = ['S1', 'S2', 'S3', 'S4', 'S5', 'S6', 'S7'] as const;

function option(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

// BENCH_SETTINGS (JSON) overrides parts of the chosen settings, e.g. '{"nodes":2}'.
const settings: BenchSettings = {
  ...(process.argv.includes('--quick') ? QUICK : FULL),
  ...(JSON.parse(process.env.BENCH_SETTINGS ?? '{}') as Partial<BenchSettings>),
};
/** ATLAS's S2 and S3 through the backplane only (for profiling the delivery path). */
const deliveryPathOnly = process.argv.includes('--delivery-path-only');
const only = new Set(option('--only')?.split(',') ?? SCENARIOS);
const systems = (option('--systems')?.split(',') ?? SYSTEMS) as SystemName[];
const env: Environment = {
  databaseUrl: process.env.DATABASE_URL ?? 'postgres://atlas:atlas@127.0.0.1:55432/atlas',
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:56379',
  kafkaBrokers: process.env.KAFKA_BROKERS ?? '127.0.0.1:59092',
  cassandraContactPoints: process.env.CASSANDRA_CONTACT_POINTS ?? '127.0.0.1:59042',
  tokenTtlSeconds: 6 * 3600,
};
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const workDir = join(process.env.BENCH_WORK_DIR ?? '/tmp/atlas-bench', stamp);

/** Between a full collection in the servers and reading their resident memory. */
const RSS_SETTLE_MS = 2_000;

const PORT_OFFSET: Record<SystemName, number> = { atlas: 0, socketio: 30, centrifugo: 60 };

/** Runs `scenarios` one after another on one start of the system; a failure ends the group. */
async function withSystem(
  name: SystemName,
  overrides: Partial<StartRequest>,
  scenarios: readonly string[],
  record: (scenario: string, system: string, result: ScenarioResult) => void,
): Promise<void> {
  const wanted = scenarios.filter((s) => only.has(s));
  if (wanted.length === 0) {
    return;
  }
  const request: StartRequest = {
    nodes: settings.nodes,
    basePort: settings.basePort + PORT_OFFSET[name],
    workDir: join(workDir, name),
    connectionsPerNode: Math.ceil((settings.s1.connections * 1.2) / settings.nodes),
    ...overrides,
  };
  const start = { atlas: startAtlas, socketio: startSocketIo, centrifugo: startCentrifugo }[name];
  let system: SystemUnderTest | undefined;
  let failed: string | undefined;
  try {
    system = await start(env, request);
    for (const scenario of wanted) {
      if (failed) {
        record(scenario, name, { error: failed });
        continue;
      }
      const started = Date.now();
      try {
        if (!deliveryPathOnly || name !== 'atlas' || (scenario !== 'S2' && scenario !== 'S3')) {
          const result = await runScenario(scenario, system);
          record(scenario, name, { ...result, seconds: Math.round((Date.now() - started) / 1000) });
        }
        if (scenario === 'S3' && name === 'atlas') {
          const delivery = await fanoutThroughput(system, settings, env.redisUrl);
          record('S3', 'atlasDeliveryPath', delivery);
        }
        if (scenario === 'S2' && name === 'atlas') {
          record('S2', 'atlasDeliveryPath', await fanoutLatency(system, settings, env.redisUrl));
        }
      } catch (error) {
        console.error(`${scenario} ${name}: ${(error as Error).stack ?? String(error)}`);
        failed = (error as Error).message;
        record(scenario, name, { error: failed });
      }
    }
  } catch (error) {
    console.error(`${name}: ${(error as Error).stack ?? String(error)}`);
    for (const scenario of wanted) {
      record(scenario, name, { error: (error as Error).message });
    }
  } finally {
    await system?.stop();
  }
}

async function main(): Promise<void> {
  for (const [what, port] of [
    ['PostgreSQL', new URL(env.databaseUrl).port],
    ['Redis', new URL(env.redisUrl).port],
  ] as const) {
    if (!(await portAccepts(Number(port)))) {
      throw new Error(`${what} is not answering on ${port}: run local/services/all.sh up`);
    }
  }
  await resetBenchDatabase(benchDatabase(env.databaseUrl));
  const versions: Record<string, string> = {
    node: process.version,
    atlas: git(['rev-parse', '--short', 'HEAD']),
    'socket.io': packageVersion('socket.io'),
    '@socket.io/redis-adapter': packageVersion('@socket.io/redis-adapter'),
    crossws: packageVersion('crossws'),
  };
  if (systems.includes('centrifugo')) {
    versions.centrifugo = (await installCentrifugo()).version;
  }
  const startedAt = new Date().toISOString();
  const loadBefore = machineLoad();
  const results: Record<string, Record<string, ScenarioResult>> = {};
  const record = (scenario: string, system: string, result: ScenarioResult) => {
    results[scenario] ??= {};
    results[scenario][system] = result;
    console.log(`${scenario} ${system} ${JSON.stringify(result)}`);
  };

  for (const name of systems) {
    if (name === 'atlas') {
      await withSystem(name, {}, ['S1', 'S2', 'S3', 'S4'], record);
      // S7 resumes from the shared store, so those nodes run on Kafka and Cassandra; it kills
      // a node, so it comes last.
      await withSystem(name, { durable: true }, ['S5', 'S7'], record);
      await withSystem(name, { roles: ['auth', 'users'] }, ['S6'], record);
    } else {
      // The durable pipeline and password logins are ATLAS's own; the peers have neither.
      await withSystem(name, {}, ['S1', 'S2', 'S3', 'S4', 'S7'], record);
    }
  }

  const run = {
    startedAt,
    finishedAt: new Date().toISOString(),
    quick: settings.quick,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      kernel: release(),
      loadAverage1mBefore: loadBefore.loadAverage1m,
      loadAverage1mAfter: machineLoad().loadAverage1m,
    },
    versions,
    settings,
    results,
  };
  const resultsDir = process.env.BENCH_RESULTS_DIR ?? join(ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${settings.quick ? 'quick' : 'full'}-${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(run, null, 2)}\n`);
  console.log(`results: ${file}`);
  const everything = !option('--only') && !option('--systems') && !process.env.BENCH_SETTINGS;
  if ((everything && !settings.quick) || process.argv.includes('--report')) {
    await writeReport(file);
  }
  const failed = Object.entries(results).flatMap(([scenario, bySystem]) =>
    Object.entries(bySystem)
      .filter(([, result]) => 'error' in result)
      .map(([system]) => `${scenario}/${system}`),
  );
  if (failed.length > 0) {
    throw new Error(`scenarios failed: ${failed.join(', ')}`);
  }
}

function runScenario(scenario: string, system: SystemUnderTest): Promise<ScenarioResult> {
  switch (scenario) {
    case 'S1':
      return connectionsHeld(system, settings, async () => {
        const liveBytes = await system.collectGarbage();
        // V8 hands the pages a collection freed back to the system a moment later.
        await sleep(RSS_SETTLE_MS);
        return { rssBytes: serverRssBytes(system), liveBytes };
      });
    case 'S2':
      return fanoutLatency(system, settings);
    case 'S3':
      return fanoutThroughput(system, settings);
    case 'S4':
      return bigRoomBroadcast(system, settings);
    case 'S5':
      return durablePipeline(system, settings, env);
    case 'S6':
      return loginThroughput(system, settings);
    default:
      return reconnectStorm(system, settings);
  }
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT }).toString().trim();
  } catch {
    return 'unknown';
  }
}

function packageVersion(name: string): string {
  try {
    const text = readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8');
    return (JSON.parse(text) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error((error as Error).message);
    process.exit(1);
  },
);
