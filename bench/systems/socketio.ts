import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspectFlag } from '../lib/inspector.ts';
import { inspectorPort, serverControls, startAll, startServer } from '../lib/servers.ts';
import { hmacUsers } from './hmac-users.ts';
import type { Environment, StartRequest, SystemUnderTest } from './types.ts';

const SERVER = fileURLToPath(new URL('../peers/socketio-server.ts', import.meta.url));

export async function startSocketIo(
  env: Environment,
  request: StartRequest,
): Promise<SystemUnderTest> {
  const secret = randomBytes(32).toString('hex');
  const servers = await startAll(request.nodes, (i) => {
    const port = request.basePort + i;
    return startServer({
      name: `socketio-${i}`,
      command: process.execPath,
      args: ['--import', 'tsx', inspectFlag(inspectorPort(port)), SERVER],
      env: { PORT: String(port), REDIS_URL: env.redisUrl, BENCH_HMAC_SECRET: secret },
      port,
      logFile: join(request.workDir, `socketio-${i}.log`),
    });
  });
  return {
    name: 'socketio',
    ...serverControls(servers),
    users: (count) => hmacUsers(secret, count, env.tokenTtlSeconds),
    // Clients join their rooms themselves after connecting.
    createRooms: async () => undefined,
    eventLoopMetrics: () => ({
      urls: servers.map((s) => `http://127.0.0.1:${s.port}/metrics`),
      metric: 'socketio_nodejs_eventloop_lag_p99_seconds',
    }),
  };
}
