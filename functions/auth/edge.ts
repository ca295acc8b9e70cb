import { createEdgeWorker } from '../runtime/edge.ts';
import { createAuthApp } from './app.ts';

/**
 * The auth function on Cloudflare Workers. Workers load a module's default export, hence the
 * one default export in the code base. Cloudflare sets `CF-Connecting-IP` to the client address.
 */
export default createEdgeWorker('auth', (services) =>
  createAuthApp(services, {
    clientAddress: (c) => c.req.header('cf-connecting-ip') ?? 'unknown',
  }),
);
