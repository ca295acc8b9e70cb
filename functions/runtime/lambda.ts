import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context as LambdaContext, APIGatewayProxyEventV2 } from 'aws-lambda';
import type { Context, Hono } from 'hono';
// TODO(hono-v5): Hono marks this adapter deprecated in favour of a separate package that is not
// published yet; switch when it is.
import { handle, type APIGatewayProxyResult } from 'hono/aws-lambda';
import { loadConfig } from '../../shared/config.ts';
import type { ApiEnv } from '../../shared/http/app.ts';
import { createLogger } from '../../shared/log.ts';
import { createMetrics } from '../../shared/metrics.ts';
import { openPlatform } from '../../shared/platform/open.ts';
import { createServices, type Services } from '../../shared/services.ts';

/**
 * The AWS Lambda entry of a function app, for an HTTP API (API Gateway payload format 2.0). The
 * app is the one Node runs; the platform is the same `openPlatform` the Node processes use, on
 * the servers the environment names, without the persisting consumer (it runs as a service of
 * its own). Services are built once per Lambda instance, on its first request, and reused by
 * every later request that instance serves.
 */
export type LambdaHandler = (
  event: APIGatewayProxyEventV2,
  context: LambdaContext,
) => Promise<APIGatewayProxyResult>;

export type BuildApp = (services: Services) => Hono<ApiEnv>;

export interface LambdaEntry {
  handler: LambdaHandler;
  /** Closes the platform (tests; a Lambda instance is frozen and discarded instead). */
  close(): Promise<void>;
}

export function createLambdaEntry(
  name: string,
  buildApp: BuildApp,
  env: Record<string, string | undefined> = process.env,
): LambdaEntry {
  let ready: Promise<{ handle: LambdaHandler; services: Services }> | undefined;

  async function start() {
    // The deployment package is read-only; the embedded fallbacks (never used when the
    // environment names every server) would write under /tmp, one folder per function, since
    // a data directory has one owner (several entries may share a process in tests).
    const config = loadConfig({ ATLAS_DATA_DIR: join(tmpdir(), 'atlas', name), ...env });
    if (!config.databaseUrl || !config.signingKeyJwk) {
      // Without them each instance would have a database and a signing key of its own.
      throw new TypeError(`the ${name} Lambda needs DATABASE_URL and ATLAS_SIGNING_KEY`);
    }
    const logger = createLogger(config.logLevel, name);
    const metrics = createMetrics();
    const platform = await openPlatform(config, {
      persist: false,
      logger,
      onBackplaneError: (operation) => metrics.backplaneErrors.inc({ operation }),
    });
    const services = await createServices(config, platform, logger, metrics);
    return { handle: handle(buildApp(services)) as LambdaHandler, services };
  }

  return {
    async handler(event, context) {
      ready ??= start().catch((error: unknown) => {
        ready = undefined;
        throw error;
      });
      const { handle: handleEvent } = await ready;
      return handleEvent(event, context);
    },
    async close() {
      const started = await ready?.catch(() => undefined);
      ready = undefined;
      await started?.services.platform.close();
    },
  };
}

/** The caller's address as API Gateway saw it (the TCP peer of the API, not a header). */
export function lambdaClientAddress(c: Context): string {
  const env = c.env as { requestContext?: { http?: { sourceIp?: string } } } | undefined;
  return env?.requestContext?.http?.sourceIp ?? 'unknown';
}
