import {
  createAccessTokenSigner,
  createAccessTokenVerifier,
  type AccessClaims,
} from './auth/access-tokens.ts';
import { createAccounts, type Accounts } from './auth/accounts.ts';
import { loadOrCreateSigningKeys, signingKeysFromJson, type SigningKeys } from './auth/keys.ts';
import { createPasswordHasher } from './auth/passwords.ts';
import { createSessions, type Sessions } from './auth/sessions.ts';
import { createMessaging, type Messaging } from './chat/messages.ts';
import { committedMessages, createRoomHeads, roomCursors } from './chat/room-heads.ts';
import { createSequencer } from './chat/sequencer.ts';
import type { AtlasConfig } from './config.ts';
import { AppError } from './errors.ts';
import { createEvents, type Events } from './events.ts';
import type { Logger } from './log.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import type { MessageStore, Platform } from './ports/index.ts';
import { createRooms, type Rooms } from './rooms/rooms.ts';
import { createSocial } from './social/social.ts';
import type { Social } from './social/types.ts';

/** The domain services every role is built from; each role uses the parts it needs. */
export interface Services {
  config: AtlasConfig;
  platform: Platform;
  logger: Logger;
  metrics: Metrics;
  keys: SigningKeys;
  accounts: Accounts;
  sessions: Sessions;
  signAccessToken: (userId: string, sessionId: string) => Promise<string>;
  /** Verifies an access token and that its login was not revoked. */
  authenticate: (token: string) => Promise<AccessClaims>;
  events: Events;
  rooms: Rooms;
  social: Social;
  messaging: Messaging;
  /** The message store as readers must see it: committed messages only. */
  committedMessages: MessageStore;
  /** The rooms of a user and the newest committed seq of each: where a connection starts. */
  roomCursors: (userId: string) => Promise<Map<string, number>>;
}

/**
 * How long a "login active / revoked" answer may be served from cache. Short, because a logout
 * during a cache outage cannot overwrite a cached "active" answer.
 */
const SESSION_STATE_CACHE_SECONDS = 60;

export async function createServices(
  config: AtlasConfig,
  platform: Platform,
  logger: Logger,
  metrics: Metrics = createMetrics(),
): Promise<Services> {
  const keys = config.signingKeyJwk
    ? await signingKeysFromJson(config.signingKeyJwk)
    : await loadOrCreateSigningKeys(config.dataDir);
  const report = (error: unknown) => logger.error({ err: error }, 'event publish failed');
  const events = createEvents(platform.pubsub, report);
  const hasher = createPasswordHasher({ concurrency: 2, maxQueued: 64 });
  const accounts = createAccounts(platform.sql, hasher, platform.limiter, platform.cache);
  const sessions = createSessions({
    sql: platform.sql,
    cache: platform.cache,
    refreshTtlSeconds: config.refreshTokenTtlSeconds,
    stateCacheSeconds: SESSION_STATE_CACHE_SECONDS,
    onRevoked: (userId, sessionId) => events.toUser(userId, { t: 'revoked', sessionId }),
  });
  const tokenSettings = {
    issuer: config.issuer,
    audience: config.audience,
    ttlSeconds: config.accessTokenTtlSeconds,
  };
  const signAccessToken = createAccessTokenSigner(keys.privateKey, keys.kid, tokenSettings);
  const verifyAccessToken = createAccessTokenVerifier(keys.publicKey, tokenSettings);
  const roomHeads = createRoomHeads({
    sql: platform.sql,
    storedHead: async (roomId) =>
      (await platform.messageStore.latest([roomId])).get(roomId)?.seq ?? 0,
  });
  // Everything that reads messages sees only committed ones; the sequencer writes the store.
  const committed = committedMessages(platform.messageStore, roomHeads);
  const rooms = createRooms({
    sql: platform.sql,
    cache: platform.cache,
    store: committed,
    events,
  });
  const social = createSocial({
    sql: platform.sql,
    cache: platform.cache,
    presence: platform.presence,
    events,
    rooms,
  });
  const sequencer = createSequencer({
    log: platform.messageLog,
    store: platform.messageStore,
    heads: roomHeads,
    onAccepted: (message) => {
      metrics.messagesAccepted.inc();
      void events.toRoom(message.roomId, { t: 'message', message });
    },
    onStoreError: (error) => {
      metrics.storeErrors.inc();
      logger.error({ err: error }, 'message store write failed');
    },
    onAppendFailure: () => metrics.appendFailures.inc(),
  });
  const messaging = createMessaging({
    rooms,
    store: committed,
    sequencer,
    events,
    report: (error) => logger.warn({ err: error }, 'moving the sender read marker failed'),
    onDuplicate: () => metrics.dedupeHits.inc(),
  });

  return {
    config,
    platform,
    logger,
    metrics,
    keys,
    accounts,
    sessions,
    signAccessToken,
    async authenticate(token) {
      const claims = await verifyAccessToken(token);
      if (!(await sessions.isActive(claims.sessionId))) {
        throw new AppError('token_revoked', 'this login was logged out');
      }
      return claims;
    },
    events,
    rooms,
    social,
    messaging,
    committedMessages: committed,
    roomCursors: (userId) => roomCursors(roomHeads, committed, userId),
  };
}
