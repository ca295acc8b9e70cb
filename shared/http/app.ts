import { Hono, type MiddlewareHandler } from 'hono';
import type { AccessClaims } from '../auth/access-tokens.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { RateLimiter } from '../ports/cache.ts';
import { createErrorHandler, errorResponse, notFound } from './errors.ts';

export interface ApiEnv {
  Variables: {
    auth: AccessClaims;
    requestId: string;
  };
}

export type Authenticate = (token: string) => Promise<AccessClaims>;

/** A Hono app with the shared error mapping, request ids and JSON 404s. */
export function createApiApp(logger: Logger, metrics?: Metrics): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.use(async function assignRequestId(c, next) {
    const given = c.req.header('x-request-id');
    const requestId = given && /^[\w-]{1,64}$/.test(given) ? given : crypto.randomUUID();
    c.set('requestId', requestId);
    c.header('X-Request-Id', requestId);
    await next();
  });
  app.onError(
    createErrorHandler(
      (error, c) => {
        logger.error(
          { err: error, request_id: c.get('requestId'), path: c.req.path },
          'request failed',
        );
      },
      (code) => {
        if (code === 'rate_limited' || code === 'login_throttled') {
          metrics?.rateLimited.inc({ scope: 'http' });
        }
      },
    ),
  );
  app.notFound(notFound);
  return app;
}

/** Requests one user may make per minute across the REST APIs before getting `rate_limited`. */
export const USER_REQUESTS_PER_MINUTE = 600;

/**
 * Requires `Authorization: Bearer <access token>` and exposes the claims as `c.var.auth`. With a
 * limiter, each user also has a shared request budget, so one account cannot flood the APIs.
 */
export function requireAuth(
  authenticate: Authenticate,
  limiter?: RateLimiter,
): MiddlewareHandler<ApiEnv> {
  return async function authenticated(c, next) {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) {
      return errorResponse(c, new AppError('unauthorized', 'missing bearer token'));
    }
    const claims = await authenticate(match[1]);
    if (limiter) {
      const budget = await limiter.hit(`api:${claims.userId}`, USER_REQUESTS_PER_MINUTE, 60_000);
      if (!budget.allowed) {
        throw new AppError('rate_limited', 'too many requests', budget.retryAfterMs / 1000);
      }
    }
    c.set('auth', claims);
    await next();
  };
}
