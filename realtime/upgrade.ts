import type { AccessClaims } from '../shared/auth/access-tokens.ts';
import { AppError } from '../shared/errors.ts';

const PROTOCOL_TOKEN_PREFIX = 'access_token.';

/**
 * The access token of an upgrade request: `?access_token=` or, for clients that keep tokens out
 * of URLs, a `Sec-WebSocket-Protocol` entry `access_token.<token>` offered beside `atlas.v1`.
 */
export function upgradeToken(request: Request): string | undefined {
  const fromQuery = new URL(request.url).searchParams.get('access_token');
  if (fromQuery) {
    return fromQuery;
  }
  const offered = request.headers.get('sec-websocket-protocol') ?? '';
  for (const entry of offered.split(',')) {
    const protocol = entry.trim();
    if (protocol.startsWith(PROTOCOL_TOKEN_PREFIX)) {
      return protocol.slice(PROTOCOL_TOKEN_PREFIX.length);
    }
  }
  return undefined;
}

export async function authenticateUpgrade(
  request: Request,
  authenticate: (token: string) => Promise<AccessClaims>,
): Promise<AccessClaims> {
  const token = upgradeToken(request);
  if (!token) {
    throw new AppError('unauthorized', 'an access token is required');
  }
  return authenticate(token);
}

/**
 * Browsers always send Origin on upgrades, so checking it stops other sites from opening
 * sockets with a user's credentials. Without an allowlist only the page's own origin (same
 * host as the request) is accepted; clients that send no Origin are not browsers and pass.
 */
export function isOriginAllowed(request: Request, allowlist: readonly string[]): boolean {
  const origin = request.headers.get('origin');
  if (origin === null) {
    return true;
  }
  if (allowlist.length > 0) {
    return allowlist.includes(origin);
  }
  const host = request.headers.get('host');
  try {
    return host !== null && new URL(origin).host === host;
  } catch {
    return false;
  }
}
