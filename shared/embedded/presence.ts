import type { Presence } from '../ports/presence.ts';
import { unavailable } from './unavailable.ts';

export interface MemoryPresenceOptions {
  /** How long a connection counts as alive after its connect or last refresh. */
  ttlMs: number;
  /** Clock in epoch milliseconds; tests pass a frozen one. Default Date.now. */
  now?: () => number;
  /** How often expired connections are dropped from memory. Default: ttlMs. */
  sweepIntervalMs?: number;
}

interface Connection {
  nodeId: string;
  expiresAtMs: number;
}

/**
 * Presence in process memory: per user, their connections with an expiry. A connection is
 * alive strictly before its expiry; every answer ignores expired ones, whether swept yet or not.
 * A user whose last connection expired went offline without a disconnect: a later disconnect
 * of it resolves false, a new connect resolves true again, and lapsed() reports the user once.
 */
export function createMemoryPresence(options: MemoryPresenceOptions): Presence {
  const { ttlMs } = options;
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new TypeError('createMemoryPresence: ttlMs must be a positive number');
  }
  const now = options.now ?? Date.now;
  const users = new Map<string, Map<string, Connection>>();
  /** Users whose last connection expired, not yet handed out by lapsed(). */
  const lapsedUsers = new Set<string>();
  let closed = false;
  const sweeper = setInterval(sweep, options.sweepIntervalMs ?? ttlMs);
  sweeper.unref();

  async function connect(userId: string, connectionId: string, nodeId: string) {
    assertOpen();
    const wasOnline = isOnline(userId, now());
    keepAlive(userId, connectionId, nodeId);
    lapsedUsers.delete(userId);
    return !wasOnline;
  }

  async function disconnect(userId: string, connectionId: string): Promise<boolean> {
    assertOpen();
    const at = now();
    const wasOnline = isOnline(userId, at);
    const connections = users.get(userId);
    connections?.delete(connectionId);
    if (connections?.size === 0) {
      users.delete(userId);
      if (!wasOnline) {
        // Its connections had expired before this disconnect: an offline nobody announced yet.
        lapsedUsers.add(userId);
      }
    }
    return wasOnline && !isOnline(userId, at);
  }

  /** Also re-adds connections that expired meanwhile: the node says they are alive. */
  async function refresh(
    nodeId: string,
    connections: ReadonlyArray<{ userId: string; connectionId: string }>,
  ): Promise<void> {
    assertOpen();
    for (const { userId, connectionId } of connections) {
      keepAlive(userId, connectionId, nodeId);
      lapsedUsers.delete(userId);
    }
  }

  async function online(userIds: readonly string[]): Promise<Set<string>> {
    assertOpen();
    const at = now();
    return new Set(userIds.filter((userId) => isOnline(userId, at)));
  }

  async function lapsed(limit: number): Promise<string[]> {
    assertOpen();
    sweep();
    const handed = [...lapsedUsers].slice(0, limit);
    for (const userId of handed) {
      lapsedUsers.delete(userId);
    }
    return handed;
  }

  async function close(): Promise<void> {
    closed = true;
    clearInterval(sweeper);
    users.clear();
    lapsedUsers.clear();
  }

  function keepAlive(userId: string, connectionId: string, nodeId: string): void {
    let connections = users.get(userId);
    if (!connections) {
      connections = new Map();
      users.set(userId, connections);
    }
    connections.set(connectionId, { nodeId, expiresAtMs: now() + ttlMs });
  }

  function isOnline(userId: string, at: number): boolean {
    for (const connection of users.get(userId)?.values() ?? []) {
      if (connection.expiresAtMs > at) {
        return true;
      }
    }
    return false;
  }

  function sweep(): void {
    const at = now();
    for (const [userId, connections] of users) {
      for (const [connectionId, connection] of connections) {
        if (connection.expiresAtMs <= at) {
          connections.delete(connectionId);
        }
      }
      if (connections.size === 0) {
        users.delete(userId);
        lapsedUsers.add(userId);
      }
    }
  }

  function assertOpen(): void {
    if (closed) {
      throw unavailable('presence is closed');
    }
  }

  return { connect, disconnect, refresh, online, lapsed, close };
}
