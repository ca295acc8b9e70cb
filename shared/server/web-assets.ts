import type { Hono } from 'hono';
import { buildWebAssets } from '../../web/build.ts';
import type { Logger } from '../log.ts';

/**
 * Serves the web client, bundled in memory at start-up from web/. Hashing nothing and caching
 * briefly keeps a reload after a deploy correct.
 */
export async function serveWebAssets(app: Hono, logger: Logger): Promise<void> {
  let assets: Awaited<ReturnType<typeof buildWebAssets>>;
  try {
    assets = await buildWebAssets();
  } catch (error) {
    // The APIs and sockets still work without the page; say so loudly and carry on.
    logger.error({ err: error }, 'web client build failed; serving the API only');
    return;
  }
  app.get('*', (c, next) => {
    const path = c.req.path === '/' ? '/index.html' : c.req.path;
    const asset = assets.get(path);
    if (!asset) {
      return next();
    }
    c.header('Content-Type', asset.contentType);
    c.header('Cache-Control', 'no-cache');
    c.header('X-Content-Type-Options', 'nosniff');
    c.header(
      'Content-Security-Policy',
      "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' https: data:; style-src 'self'; frame-ancestors 'none'",
    );
    return c.body(asset.body as Uint8Array<ArrayBuffer>);
  });
}
