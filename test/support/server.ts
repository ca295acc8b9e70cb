import { rm } from 'node:fs/promises';
import { startStandalone, type Standalone } from '../../shared/server/standalone.ts';
import { tempDir, testConfig, type TestUser } from './services.ts';

export interface TestServer extends Standalone {
  dataDir: string;
  wsUrl(user: TestUser, query?: string): string;
  api<T = unknown>(path: string, init?: ApiCall): Promise<{ status: number; body: T }>;
  dispose(): Promise<void>;
}

export interface ApiCall {
  method?: string;
  user?: Pick<TestUser, 'accessToken'>;
  body?: unknown;
}

/** One JSON API request to a running server, as a signed-in user when `user` is given. */
export async function callApi<T = unknown>(
  baseUrl: string,
  path: string,
  init: ApiCall = {},
): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (init.user) {
    headers['authorization'] = `Bearer ${init.user.accessToken}`;
  }
  const response = await fetch(`${baseUrl}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers,
    body:
      init.body === undefined
        ? undefined
        : typeof init.body === 'string'
          ? init.body
          : JSON.stringify(init.body),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** The whole product in this process on an ephemeral port, as `npm start` runs it. */
export async function startTestServer(
  env: Record<string, string> = {},
  dataDir?: string,
): Promise<TestServer> {
  const dir = dataDir ?? (await tempDir());
  const standalone = await startStandalone(testConfig(dir, env));
  return {
    ...standalone,
    dataDir: dir,
    wsUrl(user, query = '') {
      return `${standalone.url.replace('http', 'ws')}/ws?access_token=${encodeURIComponent(user.accessToken)}${query}`;
    },
    api: (path, init) => callApi(standalone.url, path, init),
    async dispose() {
      await standalone.stop();
      if (!dataDir) {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
