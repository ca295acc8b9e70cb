import type { ChainableCommander, Redis } from 'ioredis';
import type { Presence } from '../ports/presence.ts';
import {
  attempt,
  closableClient,
  connectRedis,
  pipelineResults,
  redisPrefix,
  type RedisClientOptions,
} from './connection.ts';

export interface RedisPresenceOptions extends RedisClientOptions {
  url: string;
  /** How long a connection counts as alive after its connect or last refresh. */
  ttlMs: number;
}

/*
 * One sorted set per user, `atlas:presence:<userId>`: member = connection id, score = the epoch
 * millisecond at which it expires. A connection is alive strictly before its score. Every
 * script reads the clock with Redis's TIME, so nodes with skewed clocks still agree. The key
 * itself expires with its longest-lived member, which only bounds memory: answers always
 * compare scores with the time, so an entry that outlived its score counts as offline.
 *
 * Beside them, one sorted set `atlas:presence-due`: member = user, score = when the user's
 * newest connection expires. A user stays in it until their going offline was reported, by a
 * disconnect or by the LAPSE script, which takes each due user out atomically, so exactly one
 * node announces it. The scripts touch user keys they compute from the prefix, so the
 * registry needs one Redis (or one hash slot), not a cluster.
 */

/** Records or refreshes a connection; returns 1 when the user was offline before. */
const TOUCH = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local was_online = top[2] ~= nil and tonumber(top[2]) > now
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local newest = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], newest[2])
redis.call('ZADD', KEYS[2], newest[2], ARGV[3])
if was_online then return 0 end
return 1`;

/** Removes a connection; returns 1 when that took the user offline. */
const DROP = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local was_online = top[2] ~= nil and tonumber(top[2]) > now
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local newest = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if newest[2] == nil then
  redis.call('DEL', KEYS[1])
  if was_online then
    redis.call('ZREM', KEYS[2], ARGV[2])
    return 1
  end
  return 0
end
redis.call('PEXPIREAT', KEYS[1], newest[2])
redis.call('ZADD', KEYS[2], newest[2], ARGV[2])
return 0`;

/** 1 when the user has a connection that has not expired. Reads only. */
const ALIVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if top[2] ~= nil and tonumber(top[2]) > now then return 1 end
return 0`;

/**
 * Takes out up to ARGV[2] users whose newest connection has expired, and returns them; a due
 * user who has a live connection again only gets their new expiry. KEYS[1] is the due set,
 * ARGV[1] the prefix of the user keys.
 */
const LAPSE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local gone = {}
for _, user in ipairs(due) do
  local key = ARGV[1] .. user
  local top = redis.call('ZREVRANGE', key, 0, 0, 'WITHSCORES')
  if top[2] ~= nil and tonumber(top[2]) > now then
    redis.call('ZADD', KEYS[1], top[2], user)
  else
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], user)
    table.insert(gone, user)
  end
end
return gone`;

/** The scripts as ioredis defines them on a connection and on its pipelines. */
interface PresenceScripts<R> {
  atlasPresenceTouch(
    key: string,
    due: string,
    connectionId: string,
    ttlMs: number,
    userId: string,
  ): R;
  atlasPresenceDrop(key: string, due: string, connectionId: string, userId: string): R;
  atlasPresenceAlive(key: string): R;
}

/**
 * Presence in Redis, shared by every realtime node. Connect and disconnect are one script each,
 * so two nodes racing on one user still see exactly one online and one offline transition.
 * `nodeId` is not stored: nothing reads it, and a dead node's connections expire by TTL.
 */
export async function createRedisPresence(options: RedisPresenceOptions): Promise<Presence> {
  const { ttlMs } = options;
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new TypeError('createRedisPresence: ttlMs must be a positive integer');
  }
  const prefix = `${redisPrefix(options.namespace)}presence:`;
  const client = await connectRedis(options.url, 'atlas-presence', options);
  client.defineCommand('atlasPresenceTouch', { numberOfKeys: 2, lua: TOUCH });
  client.defineCommand('atlasPresenceDrop', { numberOfKeys: 2, lua: DROP });
  client.defineCommand('atlasPresenceAlive', { numberOfKeys: 1, lua: ALIVE, readOnly: true });
  client.defineCommand('atlasPresenceLapse', { numberOfKeys: 1, lua: LAPSE });
  const scripts = client as Redis &
    PresenceScripts<Promise<number>> & {
      atlasPresenceLapse(due: string, prefix: string, limit: number): Promise<string[]>;
    };
  const key = (userId: string) => prefix + userId;
  const due = `${redisPrefix(options.namespace)}presence-due`;
  const { assertOpen, close } = closableClient(client, 'presence');

  async function connect(userId: string, connectionId: string, _nodeId: string) {
    assertOpen();
    const became = await attempt('presence connect failed', () =>
      scripts.atlasPresenceTouch(key(userId), due, connectionId, ttlMs, userId),
    );
    return became === 1;
  }

  async function disconnect(userId: string, connectionId: string): Promise<boolean> {
    assertOpen();
    const left = await attempt('presence disconnect failed', () =>
      scripts.atlasPresenceDrop(key(userId), due, connectionId, userId),
    );
    return left === 1;
  }

  /** Also re-adds connections that expired meanwhile: the node says they are alive. */
  async function refresh(
    _nodeId: string,
    connections: ReadonlyArray<{ userId: string; connectionId: string }>,
  ): Promise<void> {
    assertOpen();
    if (connections.length === 0) {
      return;
    }
    const batch = client.pipeline() as ChainableCommander & PresenceScripts<ChainableCommander>;
    for (const { userId, connectionId } of connections) {
      batch.atlasPresenceTouch(key(userId), due, connectionId, ttlMs, userId);
    }
    pipelineResults(
      'presence refresh failed',
      await attempt('presence refresh failed', () => batch.exec()),
    );
  }

  async function online(userIds: readonly string[]): Promise<Set<string>> {
    assertOpen();
    if (userIds.length === 0) {
      return new Set();
    }
    const batch = client.pipeline() as ChainableCommander & PresenceScripts<ChainableCommander>;
    for (const userId of userIds) {
      batch.atlasPresenceAlive(key(userId));
    }
    const alive = pipelineResults(
      'presence lookup failed',
      await attempt('presence lookup failed', () => batch.exec()),
    );
    return new Set(userIds.filter((_userId, i) => alive[i] === 1));
  }

  async function lapsed(limit: number): Promise<string[]> {
    assertOpen();
    return attempt('presence lapse failed', () => scripts.atlasPresenceLapse(due, prefix, limit));
  }

  return { connect, disconnect, refresh, online, lapsed, close };
}
