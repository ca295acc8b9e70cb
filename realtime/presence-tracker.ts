import type { Services } from '../shared/services.ts';
import type { Connection } from './connection.ts';
import type { Hub } from './hub.ts';

/** Lapsed users announced per registry call, and calls per refresh at most. */
const LAPSE_BATCH = 200;
const MAX_LAPSE_ROUNDS = 10;

/**
 * Keeps the shared presence registry in step with this node's connections and tells each user's
 * audience when they come online or go offline. Entries are refreshed well inside their TTL, so
 * if this node dies its users go offline when the TTL runs out, and another node announces it.
 */
export function createPresenceTracker(services: Services, hub: Hub, nodeId: string) {
  const { platform, social, events, logger } = services;
  const refreshEveryMs = Math.max(500, Math.floor(services.config.presenceTtlMs / 3));

  const refresher = setInterval(() => {
    const entries = [...hub.connections()].map((c) => ({ userId: c.userId, connectionId: c.id }));
    platform.presence.refresh(nodeId, entries).catch((error: unknown) => {
      logger.error({ err: error }, 'presence refresh failed');
    });
    announceLapsed().catch((error: unknown) => {
      logger.error({ err: error }, 'announcing lapsed presence failed');
    });
  }, refreshEveryMs);
  refresher.unref();

  async function announce(userId: string, status: 'online' | 'offline', lastSeenAt: string | null) {
    const audience = await social.presenceAudience(userId);
    await events.toUsers(audience, { t: 'presence', userId, status, lastSeenAt });
  }

  /**
   * Users whose connections expired (their node died) went offline without a disconnect; every
   * node asks for them in turn, and the registry hands each to one node to announce.
   */
  async function announceLapsed(): Promise<void> {
    for (let round = 0; round < MAX_LAPSE_ROUNDS; round++) {
      const lapsed = await platform.presence.lapsed(LAPSE_BATCH);
      for (const userId of lapsed) {
        const lastSeenAt = await social.recordLastSeen(userId, new Date());
        await announce(userId, 'offline', lastSeenAt);
      }
      if (lapsed.length < LAPSE_BATCH) {
        return;
      }
    }
  }

  return {
    async opened(connection: Connection): Promise<void> {
      try {
        const cameOnline = await platform.presence.connect(
          connection.userId,
          connection.id,
          nodeId,
        );
        const { audience, visibleTo } = await social.presenceCircle(connection.userId);
        const online = await platform.presence.online(visibleTo);
        for (const userId of online) {
          connection.send({ type: 'presence', userId, status: 'online', lastSeenAt: null });
        }
        if (cameOnline) {
          await events.toUsers(audience, {
            t: 'presence',
            userId: connection.userId,
            status: 'online',
            lastSeenAt: null,
          });
        }
      } catch (error) {
        logger.error({ err: error }, 'presence update failed');
      }
    },

    async closed(connection: Connection): Promise<void> {
      try {
        const wentOffline = await platform.presence.disconnect(connection.userId, connection.id);
        if (wentOffline) {
          const lastSeenAt = await social.recordLastSeen(connection.userId, new Date());
          await announce(connection.userId, 'offline', lastSeenAt);
        }
      } catch (error) {
        logger.error({ err: error }, 'presence update failed');
      }
    },

    stop(): void {
      clearInterval(refresher);
    },
  };
}
