import { Hono } from 'hono';
import { createAuthApp } from '../../functions/auth/app.ts';
import { createChatApp } from '../../functions/chat/app.ts';
import { createUsersApp } from '../../functions/users/app.ts';
import { createRealtimeNode, type RealtimeNode } from '../../realtime/node.ts';
import type { AtlasConfig } from '../config.ts';
import { notFound } from '../http/errors.ts';
import { createLogger } from '../log.ts';
import { openEmbeddedPlatform } from '../platform/embedded.ts';
import { createServices, type Services } from '../services.ts';
import { nodeClientAddress, startNodeServer, type RunningServer } from './node-server.ts';
import { serveWebAssets } from './web-assets.ts';

export interface Standalone {
  url: string;
  services: Services;
  realtime: RealtimeNode;
  server: RunningServer;
  /** Drains sockets ("going away, reconnect"), stops HTTP, then flushes and closes storage. */
  stop(): Promise<void>;
}

/** Sockets beyond the WebSocket cap kept for HTTP requests, files and the stores. */
const HTTP_SOCKET_HEADROOM = 1_000;

/** Every role in one process on the embedded platform: what `npm start` runs. */
export async function startStandalone(config: AtlasConfig): Promise<Standalone> {
  const logger = createLogger(config.logLevel, 'atlas');
  const platform = await openEmbeddedPlatform({
    dataDir: config.dataDir,
    presenceTtlMs: config.presenceTtlMs,
  });
  const services = await createServices(config, platform, logger);
  const realtime = createRealtimeNode(services, `standalone-${process.pid}`);

  const app = new Hono();
  app.notFound(notFound);
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => c.json({ status: 'ready' }));
  app.route('/', createAuthApp(services, { clientAddress: nodeClientAddress(config.trustProxy) }));
  app.route('/', createUsersApp(services));
  app.route('/', createChatApp(services));
  await serveWebAssets(app, logger);

  const server = await startNodeServer({
    fetch: app.fetch,
    host: config.host,
    port: config.port,
    upgrade: (request, socket, head) => realtime.adapter.handleUpgrade(request, socket, head),
    maxSockets: config.maxConnections + HTTP_SOCKET_HEADROOM,
  });

  let stopping: Promise<void> | undefined;
  return {
    url: server.url,
    services,
    realtime,
    server,
    stop() {
      stopping ??= (async () => {
        await realtime.close();
        await server.close();
        await platform.close();
      })();
      return stopping;
    },
  };
}
