import type { AtlasConfig } from '../config.ts';
import { createLogger } from '../log.ts';
import { createMetrics, registerPersistLag } from '../metrics.ts';
import { describePlatform, openPlatform, persistGroupId } from '../platform/open.ts';
import { openPersistWatch } from '../platform/persist-watch.ts';
import { kafkaClientSecurity } from '../platform/security.ts';
import type { RealtimeNode } from '../../realtime/node.ts';
import { createServices, type Services } from '../services.ts';
import { startNodeServer, type RunningServer } from './node-server.ts';
import { createRoleApp, ROLES, type Role } from './roles.ts';
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

export interface ServerOptions {
  roles?: readonly Role[];
  /** Serve the web client at `/`. */
  web?: boolean;
}

/**
 * Starts the given roles (all of them by default) in this process, on the real servers that
 * the configuration names and the embedded defaults for the rest, plus the web client: what
 * `npm start` runs.
 */
export async function startStandalone(
  config: AtlasConfig,
  options: ServerOptions = {},
): Promise<Standalone> {
  const roles = options.roles ?? ROLES;
  const logger = createLogger(
    config.logLevel,
    roles.length === ROLES.length ? 'atlas' : roles.join('+'),
  );
  const metrics = createMetrics();
  const platform = await openPlatform(config, {
    persist: roles.includes('persister'),
    logger,
    onBackplaneError: (operation) => metrics.backplaneErrors.inc({ operation }),
    onPersisted: (count) => metrics.messagesPersisted.inc(count),
    onPersistError: () => metrics.persistErrors.inc(),
  });
  logger.info(describePlatform(config), 'platform open');
  const lagWatch =
    roles.includes('persister') && config.kafkaBrokers.length > 0
      ? await openPersistWatch({
          brokers: config.kafkaBrokers,
          topic: config.kafkaTopic,
          groupId: persistGroupId(config),
          kafka: kafkaClientSecurity(config.kafkaSecurity),
        })
      : undefined;
  if (lagWatch) {
    registerPersistLag(metrics, () => lagWatch.lag());
  }
  const services = await createServices(config, platform, logger, metrics);
  const roleApp = createRoleApp(services, roles, `node-${process.pid}`);
  if (options.web ?? true) {
    await serveWebAssets(roleApp.app, logger);
  }
  const realtime = roleApp.realtime;
  const server = await startNodeServer({
    fetch: roleApp.app.fetch,
    host: config.host,
    port: config.port,
    upgrade: realtime
      ? (request, socket, head) => realtime.adapter.handleUpgrade(request, socket, head)
      : undefined,
    maxSockets: config.maxConnections + HTTP_SOCKET_HEADROOM,
  });

  let stopping: Promise<void> | undefined;
  return {
    url: server.url,
    services,
    // Tests and `npm start` always run the realtime role; role-only processes never read it.
    realtime: realtime as RealtimeNode,
    server,
    stop() {
      stopping ??= (async () => {
        roleApp.startDraining();
        await realtime?.close();
        await server.close();
        await lagWatch?.close();
        await platform.close();
      })();
      return stopping;
    },
  };
}
