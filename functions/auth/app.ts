import type { Context, Hono } from 'hono';
import * as v from 'valibot';
import { AppError } from '../../shared/errors.ts';
import { createApiApp, type ApiEnv } from '../../shared/http/app.ts';
import { readJson } from '../../shared/http/validate.ts';
import { DisplayNameSchema, PasswordSchema, UsernameSchema } from '../../shared/schemas.ts';
import type { Services } from '../../shared/services.ts';

const RegisterBody = v.object({
  username: UsernameSchema,
  password: PasswordSchema,
  displayName: v.optional(DisplayNameSchema),
});

const LoginBody = v.object({
  username: v.pipe(v.string(), v.maxLength(64)),
  password: v.pipe(v.string(), v.maxLength(256)),
});

const RefreshBody = v.object({ refreshToken: v.pipe(v.string(), v.maxLength(256)) });

/** Registrations allowed per client address per hour. */
const REGISTRATIONS_PER_HOUR = 20;

export interface AuthAppOptions {
  /** The caller's address as the runtime knows it (proxy headers are the runtime's concern). */
  clientAddress: (c: Context) => string;
}

/** Registration, login, token refresh and logout, plus the public keys that verify tokens. */
export function createAuthApp(services: Services, options: AuthAppOptions): Hono<ApiEnv> {
  const { accounts, sessions, social, platform } = services;
  const app = createApiApp(services.logger, services.metrics);

  async function issueTokens(userId: string, sessionId: string, refreshToken: string) {
    return {
      user: await social.me(userId),
      accessToken: await services.signAccessToken(userId, sessionId),
      refreshToken,
    };
  }

  app.post('/api/auth/register', async (c) => {
    const address = options.clientAddress(c);
    const quota = await platform.limiter.hit(
      `register:${address}`,
      REGISTRATIONS_PER_HOUR,
      3_600_000,
    );
    if (!quota.allowed) {
      throw new AppError(
        'rate_limited',
        'too many registrations from this address',
        quota.retryAfterMs / 1000,
      );
    }
    const body = await readJson(c, RegisterBody);
    const userId = await accounts.register(body);
    const { sessionId, refreshToken } = await sessions.start(userId);
    return c.json(await issueTokens(userId, sessionId, refreshToken), 201);
  });

  app.post('/api/auth/login', async (c) => {
    const body = await readJson(c, LoginBody);
    const userId = await accounts.login({ ...body, clientAddress: options.clientAddress(c) });
    const { sessionId, refreshToken } = await sessions.start(userId);
    return c.json(await issueTokens(userId, sessionId, refreshToken));
  });

  app.post('/api/auth/refresh', async (c) => {
    const { refreshToken } = await readJson(c, RefreshBody);
    const rotated = await sessions.rotate(refreshToken);
    return c.json(await issueTokens(rotated.userId, rotated.sessionId, rotated.refreshToken));
  });

  app.post('/api/auth/logout', async (c) => {
    const { refreshToken } = await readJson(c, RefreshBody);
    await sessions.revoke(refreshToken);
    // Unknown tokens are answered the same way: logout must not become a token oracle.
    return c.json({ ok: true });
  });

  app.get('/api/auth/jwks', (c) => {
    c.header('Cache-Control', 'public, max-age=300');
    return c.json(services.keys.jwks);
  });

  return app;
}
