import { Hono } from 'hono';
import { createAuthApp } from '../../functions/auth/app.ts';
import { createChatApp } from '../../functions/chat/app.ts';
import { createUsersApp } from '../../functions/users/app.ts';
import { createRealtimeNode, type RealtimeNode } from '../../realtime/node.ts';
import { notFound } from '../http/errors.ts';
import type { Services } from '../services.ts';
import { nodeClientAddress } from './node-server.ts';

/**
 * What a process can run. `persister` is the consumer that copies the message log into the
 * message store; a fleet runs it in processes of its own (one consumer group, partitions shared
 * between them) and every other role leaves it out.
 */
export const ROLES = ['auth', 'users', 'chat', 'realtime', 'persister'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export interface RoleApp {
  app: Hono;
  realtime: RealtimeNode | undefined;
  /** Turns /readyz to 503 so load balancers stop sending new work. */
  startDraining(): void;
}

/**
 * One HTTP app serving the given roles, with health endpoints. `npm start` runs all of them in
 * one process; a fleet runs each role in processes of its own.
 */
export function createRoleApp(services: Services, roles: readonly Role[], nodeId: string): RoleApp {
  const app = new Hono();
  app.notFound(notFound);
  const realtime = roles.includes('realtime') ? createRealtimeNode(services, nodeId) : undefined;
  let draining = false;
  app.use(async function accessLog(c, next) {
    const started = performance.now();
    await next();
    // The path only: queries may carry tokens (never on these routes, but never logged either).
    services.logger.info(
      {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        duration_ms: Math.round((performance.now() - started) * 10) / 10,
        request_id: c.res.headers.get('x-request-id') ?? undefined,
      },
      'request',
    );
  });
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/metrics', async (c) => {
    c.header('Content-Type', services.metrics.registry.contentType);
    return c.body(await services.metrics.registry.metrics());
  });
  app.get('/readyz', (c) =>
    draining ? c.json({ status: 'draining' }, 503) : c.json({ status: 'ready', roles }),
  );
  if (roles.includes('auth')) {
    app.route(
      '/',
      createAuthApp(services, { clientAddress: nodeClientAddress(services.config.trustProxy) }),
    );
  }
  if (roles.includes('users')) {
    app.route('/', createUsersApp(services));
  }
  if (roles.includes('chat')) {
    app.route('/', createChatApp(services));
  }
  return {
    app,
    realtime,
    startDraining() {
      draining = true;
    },
  };
}
