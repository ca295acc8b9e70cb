import { AsyncLocalStorage } from 'node:async_hooks';
import type { ExecutionContext, Hono } from 'hono';
import { loadConfig, type AtlasConfig } from '../../shared/config.ts';
import { openNeonSql, type NeonSocketSettings } from '../../shared/db/neon.ts';
import { createMemoryCache } from '../../shared/embedded/cache.ts';
import { createMemoryPresence } from '../../shared/embedded/presence.ts';
import { createMemoryPubSub } from '../../shared/embedded/pubsub.ts';
import { createMemoryRateLimiter } from '../../shared/embedded/rate-limiter.ts';
import { unavailable } from '../../shared/embedded/unavailable.ts';
import type { ApiEnv } from '../../shared/http/app.ts';
import { createLogger } from '../../shared/log.ts';
import { createMetrics } from '../../shared/metrics.ts';
import type { MessageLog, MessageStore, Platform, Sql } from '../../shared/ports/index.ts';
import { createServices, type Services } from '../../shared/services.ts';

/**
 * The Cloudflare Workers entry of a function app. The app is the same one Node and Lambda run;
 * only the platform under it differs:
 * - PostgreSQL through the Neon driver (the Postgres protocol over a WebSocket), opened per
 *   request and closed after it, because Workers forbid reusing one request's sockets in another;
 * - cache and rate limits in isolate memory (each isolate counts on its own);
 * - no Redis: presence reads everyone as offline, and live events (friend requests, profile
 *   changes) are not published. TODO(edge-backplane): an HTTP Redis client would close this gap.
 * - no message log or store: routes that need them answer `unavailable`, which is why the chat
 *   function does not run here.
 */

/** The Workers `fetch` handler's third argument (waitUntil, passThroughOnException). */
export type EdgeContext = ExecutionContext;

/** Workers bindings: the plain-text variables and secrets of the worker. */
export type EdgeBindings = Record<string, unknown>;

export interface EdgeWorker {
  fetch(request: Request, bindings: EdgeBindings, context: EdgeContext): Promise<Response>;
}

export type BuildApp = (services: Services) => Hono<ApiEnv>;

/** Sockets one request may open to the database (one suffices for every ATLAS route). */
const CONNECTIONS_PER_REQUEST = 1;

export function createEdgeWorker(name: string, buildApp: BuildApp): EdgeWorker {
  const requestSql = new AsyncLocalStorage<RequestSql>();
  let built: Promise<Hono<ApiEnv>> | undefined;

  async function build(bindings: EdgeBindings): Promise<Hono<ApiEnv>> {
    const env = textBindings(bindings);
    const config = loadConfig(env);
    if (!config.databaseUrl || !config.signingKeyJwk) {
      throw new TypeError('the edge entry needs DATABASE_URL and ATLAS_SIGNING_KEY');
    }
    const open = neonOpener(config.databaseUrl, neonSettings(env));
    const logger = createLogger(config.logLevel, name);
    const platform = edgePlatform(config, requestSql, open);
    // Counted but not served: an edge deployment has no /metrics to scrape.
    const metrics = createMetrics({ processMetrics: false });
    const services = await createServices(config, platform, logger, metrics);
    return buildApp(services);
  }

  return {
    async fetch(request, bindings, context) {
      const scope = new RequestSql();
      try {
        // Built once per isolate, inside the first request: Workers allow no I/O at start-up.
        built ??= build(bindings);
        const app = await built.catch((error: unknown) => {
          built = undefined;
          throw error;
        });
        return await requestSql.run(scope, () => app.fetch(request, bindings, context));
      } catch (error) {
        console.error(`${name}: edge entry failed`, error);
        return Response.json(
          { error: { code: 'internal', message: 'internal error' } },
          { status: 500 },
        );
      } finally {
        context.waitUntil(scope.close());
      }
    },
  };
}

/** The database connection of one request, opened by its first query. */
class RequestSql {
  private opened: Promise<Sql> | undefined;

  get(open: () => Promise<Sql>): Promise<Sql> {
    this.opened ??= open();
    return this.opened;
  }

  async close(): Promise<void> {
    const sql = await this.opened?.catch(() => undefined);
    await sql?.close();
  }
}

function neonOpener(connectionString: string, neonConfig: NeonSocketSettings) {
  return function openRequestSql(): Promise<Sql> {
    return openNeonSql({
      connectionString,
      neonConfig,
      max: CONNECTIONS_PER_REQUEST,
      onError: (error, context) => console.error(`${context} failed`, error),
    });
  };
}

/** An Sql that sends each call to the connection of the request it runs in. */
function requestScopedSql(scope: AsyncLocalStorage<RequestSql>, open: () => Promise<Sql>): Sql {
  function current(): Promise<Sql> {
    const request = scope.getStore();
    if (!request) {
      throw new TypeError('edge sql used outside a request');
    }
    return request.get(open);
  }
  return {
    query: async (text, params) => (await current()).query(text, params),
    transaction: async (work) => (await current()).transaction(work),
    close: async () => undefined,
  };
}

function edgePlatform(
  config: AtlasConfig,
  scope: AsyncLocalStorage<RequestSql>,
  open: () => Promise<Sql>,
): Platform {
  return {
    sql: requestScopedSql(scope, open),
    messageLog: noMessageLog,
    messageStore: noMessageStore,
    pubsub: createMemoryPubSub(),
    presence: createMemoryPresence({ ttlMs: config.presenceTtlMs }),
    cache: createMemoryCache(),
    limiter: createMemoryRateLimiter(),
    close: async () => undefined,
  };
}

function notOnEdge(): never {
  throw unavailable('messages are not served by the edge runtime');
}

const noMessageLog: MessageLog = {
  append: async () => notOnEdge(),
  consume: async () => notOnEdge(),
  close: async () => undefined,
};

const noMessageStore: MessageStore = {
  put: async () => notOnEdge(),
  page: async () => notOnEdge(),
  // Room lists show each room's last message; without the store they show none.
  latest: async () => new Map(),
  findByClientMsgId: async () => notOnEdge(),
  close: async () => undefined,
};

function textBindings(bindings: EdgeBindings): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(bindings)) {
    if (typeof value === 'string') {
      env[key] = value;
    }
  }
  return env;
}

/**
 * Neon's defaults (TLS WebSockets to Neon's own proxy) unless the worker names another proxy:
 * `NEON_WS_PROXY` (host:port[/path]) and `NEON_WS_INSECURE=1` reach a plain PostgreSQL through
 * a local WebSocket proxy, as the tests do.
 */
function neonSettings(env: Record<string, string | undefined>): NeonSocketSettings {
  if (!env.NEON_WS_PROXY) {
    return {};
  }
  const insecure = env.NEON_WS_INSECURE === '1';
  return {
    wsProxy: env.NEON_WS_PROXY,
    useSecureWebSocket: !insecure,
    pipelineConnect: insecure ? false : 'password',
    forceDisablePgSSL: true,
  };
}
