import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { goLiveBytes } from '../lib/inspector.ts';
import { serverControls, startAll, startServer } from '../lib/servers.ts';
import { hmacUsers } from './hmac-users.ts';
import type { Environment, StartRequest, SystemUnderTest } from './types.ts';

const run = promisify(execFile);

const CACHE_BIN = join(
  process.env.ATLAS_CACHE_DIR ?? join(homedir(), '.cache', 'atlas'),
  'centrifugo',
  'bin',
);
const MODULE = 'github.com/centrifugal/centrifugo/v6';
/** Pinned so that runs stay comparable; a cached binary of another version is replaced. */
const VERSION = 'v6.9.1';

/**
 * The Centrifugo binary, built with `go install` from the Go module proxy into the cache the
 * first time (a few minutes), and its module version as recorded in the binary.
 */
export async function installCentrifugo(): Promise<{ binary: string; version: string }> {
  const binary = join(CACHE_BIN, 'centrifugo');
  if (!existsSync(binary) || (await builtVersion(binary)) !== VERSION) {
    mkdirSync(CACHE_BIN, { recursive: true });
    console.log(`installing Centrifugo with go install ${MODULE}@${VERSION} (first run only)`);
    await run('go', ['install', `${MODULE}@${VERSION}`], {
      env: { ...process.env, GOBIN: CACHE_BIN },
      timeout: 20 * 60_000,
    });
  }
  return { binary, version: (await builtVersion(binary)) ?? 'unknown' };
}

/** The module version recorded in a Go binary. */
async function builtVersion(binary: string): Promise<string | undefined> {
  const { stdout } = await run('go', ['version', '-m', binary]);
  return new RegExp(`mod\\s+${MODULE.replaceAll('/', '\\/')}\\s+(\\S+)`).exec(stdout)?.[1];
}

/**
 * Centrifugo v6 nodes with the Redis engine: clients connect with an HS256 JWT, subscribe to
 * their rooms' channels and publish into them (publish allowed to subscribers).
 */
export async function startCentrifugo(
  env: Environment,
  request: StartRequest,
): Promise<SystemUnderTest> {
  const { binary } = await installCentrifugo();
  const secret = randomBytes(32).toString('hex');
  mkdirSync(request.workDir, { recursive: true });
  const servers = await startAll(request.nodes, (i) => {
    const port = request.basePort + i;
    const config = join(request.workDir, `centrifugo-${i}.json`);
    writeFileSync(config, JSON.stringify(centrifugoConfig(port, secret, env.redisUrl)));
    return startServer({
      name: `centrifugo-${i}`,
      command: binary,
      args: ['--config', config],
      env: {},
      port,
      logFile: join(request.workDir, `centrifugo-${i}.log`),
    });
  });
  return {
    name: 'centrifugo',
    ...serverControls(servers),
    users: (count) => hmacUsers(secret, count, env.tokenTtlSeconds),
    createRooms: async () => undefined,
    // Go's heap profile endpoint runs a collection first when asked with gc=1, and ends with
    // runtime.MemStats when asked with debug=1.
    async collectGarbage() {
      const live = await Promise.all(
        servers.map(async (s) => {
          const url = `http://127.0.0.1:${s.port}/debug/pprof/heap?gc=1&debug=1`;
          const response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
          return goLiveBytes(await response.text());
        }),
      );
      return live.reduce((a, b) => a + b, 0);
    },
    // A Go server has no event loop to measure.
    eventLoopMetrics: () => ({ urls: [], metric: '' }),
  };
}

/** One node's configuration (v6 layout): Redis engine, HMAC tokens, publish by subscribers. */
function centrifugoConfig(port: number, secret: string, redisUrl: string) {
  return {
    http_server: { address: '127.0.0.1', port },
    log: { level: 'error' },
    client: { token: { hmac_secret_key: secret }, allowed_origins: ['*'] },
    engine: { type: 'redis', redis: { address: [redisUrl], prefix: 'bench-centrifugo' } },
    channel: {
      without_namespace: { allow_subscribe_for_client: true, allow_publish_for_subscriber: true },
    },
    prometheus: { enabled: true },
    // pprof, for the garbage collection before memory readings (loopback only, as the node).
    debug: { enabled: true },
  };
}
