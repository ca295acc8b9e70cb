import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type AtlasConfig } from '../../shared/config.ts';
import { createLogger } from '../../shared/log.ts';
import { openEmbeddedPlatform } from '../../shared/platform/embedded.ts';
import { createServices, type Services } from '../../shared/services.ts';

export async function tempDir(prefix = 'atlas-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export function testConfig(dataDir: string, env: Record<string, string> = {}): AtlasConfig {
  return loadConfig({ ATLAS_DATA_DIR: dataDir, LOG_LEVEL: 'silent', PORT: '0', ...env });
}

/** Domain services over a fresh embedded platform in a temporary directory. */
export async function createTestServices(
  env: Record<string, string> = {},
): Promise<{ services: Services; close(): Promise<void> }> {
  const dataDir = await tempDir();
  const config = testConfig(dataDir, env);
  const platform = await openEmbeddedPlatform({ dataDir, presenceTtlMs: config.presenceTtlMs });
  const services = await createServices(config, platform, createLogger('silent', 'test'));
  return {
    services,
    async close() {
      await platform.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface TestUser {
  userId: string;
  username: string;
  accessToken: string;
  refreshToken: string;
}

let counter = 0;

/** A user with a login, made through the services (no password hashing round trip via HTTP). */
export async function registerUser(services: Services, username?: string): Promise<TestUser> {
  const name = username ?? `user_${process.pid}_${++counter}`;
  const userId = await services.accounts.register({
    username: name,
    password: 'correct horse battery',
  });
  const { sessionId, refreshToken } = await services.sessions.start(userId);
  return {
    userId,
    username: name,
    accessToken: await services.signAccessToken(userId, sessionId),
    refreshToken,
  };
}

export function bearer(user: TestUser): Record<string, string> {
  return { authorization: `Bearer ${user.accessToken}`, 'content-type': 'application/json' };
}
