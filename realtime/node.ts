import crossws, { type NodeAdapter } from 'crossws/adapters/node';
import type { Peer } from 'crossws';
import { AppError, isAppError } from '../shared/errors.ts';
import type { Services } from '../shared/services.ts';
import { CloseCode } from './close-codes.ts';
import { Connection, type ConnectionLimits } from './connection.ts';
import { Hub } from './hub.ts';
import { handleFrame } from './handlers.ts';
import { authenticateUpgrade, isOriginAllowed } from './upgrade.ts';
import { createPresenceTracker } from './presence-tracker.ts';
import { releaseUpgradeRequest } from './peer-memory.ts';

/** Largest frame accepted from a client; larger ones close the socket with 1009. */
export const MAX_FRAME_BYTES = 64 * 1024;

/** With `?sync=1` a client promises a sync first; live events wait for it at most this long. */
const SYNC_HOLD_MS = 10_000;

/** Binary frames must hold UTF-8 JSON too; a lone surrogate's bytes are refused, not replaced. */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

const DEFAULT_LIMITS: Omit<ConnectionLimits, 'maxBufferedBytes'> = {
  sendsPerSecond: 20,
  sendBurst: 40,
  framesPerSecond: 50,
  frameBurst: 100,
};

export interface RealtimeNode {
  adapter: NodeAdapter;
  hub: Hub;
  /** Connections open or being opened. */
  readonly load: number;
  /**
   * Stops taking upgrades, waits `drainNotReadyMs` (the load balancer sees /readyz fail and
   * stops routing here), then closes every connection with "going away" (1001), a batch of
   * `drainBatchSize` every `drainPauseMs`, so the clients reconnect to other nodes in waves
   * rather than all at once. Resolves when all are gone. Options override the configuration.
   */
  drain(options?: Partial<DrainSettings>): Promise<void>;
  close(): Promise<void>;
}

export interface DrainSettings {
  notReadyMs: number;
  batchSize: number;
  pauseMs: number;
}

interface PeerContext {
  connection?: Connection;
  userId?: string;
  sessionId?: string;
  expiresAt?: number;
  holdForSync?: boolean;
}

function contextOf(peer: Peer): PeerContext {
  return peer.context as PeerContext;
}

export function createRealtimeNode(services: Services, nodeId: string): RealtimeNode {
  const { config, platform, rooms, logger, metrics } = services;
  const hub = new Hub(platform.pubsub, rooms, logger, metrics);
  const presence = createPresenceTracker(services, hub, nodeId);
  const limits: ConnectionLimits = {
    ...DEFAULT_LIMITS,
    maxBufferedBytes: config.maxSocketBufferBytes,
  };
  let upgrading = 0;
  let draining = false;

  platform.pubsub.onReconnect(() => {
    // The adapter resubscribes its channels itself; what was published meanwhile is lost, so
    // every stream catches up from the store.
    hub.recover(services.committedMessages).catch((error: unknown) => {
      logger.error({ err: error }, 'catch-up after backplane reconnect failed');
    });
  });

  function refusal(error: AppError): Response {
    metrics.upgradesRefused.inc({ code: error.code });
    return refusalResponse(error);
  }

  const adapter = crossws({
    // No compression (a deflate context costs tens of KiB per socket) and no second registry of
    // sockets in `ws`: the hub is the index of connections.
    serverOptions: { maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false, clientTracking: false },
    // The node's own heartbeat below pings and reaps dead sockets; the adapter's would do it
    // again, with three listeners more on every socket.
    idleTimeout: 0,
    handleProtocols: (offered) => (offered.has('atlas.v1') ? 'atlas.v1' : false),
    hooks: {
      async upgrade(request) {
        if (draining || hub.connectionCount + upgrading >= config.maxConnections) {
          return refusal(new AppError('over_capacity', 'this node is full, try another', 1));
        }
        if (!isOriginAllowed(request, config.allowedOrigins)) {
          return refusal(new AppError('origin_not_allowed', 'origin not allowed'));
        }
        upgrading++;
        try {
          const claims = await authenticateUpgrade(request, services.authenticate);
          if (hub.connectionsOf(claims.userId).size >= config.maxConnectionsPerUser) {
            return refusal(
              new AppError('too_many_connections', 'close another tab or device first', 5),
            );
          }
          const holdForSync = new URL(request.url).searchParams.get('sync') === '1';
          return { context: { ...claims, holdForSync } satisfies PeerContext };
        } catch (error) {
          return refusal(isAppError(error) ? error : new AppError('internal', 'internal error'));
        } finally {
          upgrading--;
        }
      },

      async open(peer) {
        const context = contextOf(peer);
        releaseUpgradeRequest(peer);
        if (!context.userId || !context.sessionId || context.expiresAt === undefined) {
          peer.close(CloseCode.internalError, 'no session');
          return;
        }
        const connection = new Connection(
          peer.id,
          peer,
          context.userId,
          context.sessionId,
          context.expiresAt,
          limits,
          services.committedMessages,
          () => metrics.gaps.inc(),
          () => metrics.slowConsumers.inc(),
        );
        context.connection = connection;
        metrics.connections.inc();
        connection.expireAt(context.expiresAt);
        let setupDone!: () => void;
        connection.ready = new Promise<void>((resolve) => (setupDone = resolve));
        try {
          // TODO(connect-reads): memberships and the presence circle are read from PostgreSQL on
          // every connect; cached in Redis and invalidated on change they would cost a connect
          // far less, since they change far less often than users connect.
          const [cursors] = await Promise.all([
            services.roomCursors(connection.userId),
            hub.addUser(connection),
          ]);
          for (const [roomId, cursor] of cursors) {
            connection.joinRoom(roomId, cursor, context.holdForSync === true);
          }
          await Promise.all([...cursors.keys()].map((roomId) => hub.addRoom(connection, roomId)));
          if (context.holdForSync) {
            connection.holdFor(SYNC_HOLD_MS);
          }
          connection.send({
            type: 'hello',
            userId: connection.userId,
            connectionId: connection.id,
            expiresAt: new Date(connection.expiresAt * 1000).toISOString(),
            heartbeatMs: config.heartbeatMs,
          });
          await presence.opened(connection);
        } catch (error) {
          logger.error({ err: error, user_id: connection.userId }, 'connection setup failed');
          connection.close(CloseCode.internalError, 'setup failed');
        } finally {
          setupDone();
        }
      },

      async message(peer, message) {
        const connection = contextOf(peer).connection;
        if (!connection) {
          return;
        }
        // Frames sent right after the upgrade wait until the connection knows its rooms.
        await connection.ready;
        if (connection.closing) {
          return;
        }
        metrics.framesIn.inc();
        if (!connection.frames.take()) {
          metrics.rateLimited.inc({ scope: 'ws' });
          connection.sendError('rate_limited', 'too many frames', undefined);
          return;
        }
        let text: string;
        try {
          // Text frames arrive decoded (the socket library refuses bad UTF-8 in them with
          // 1007); binary frames are raw bytes and get the same strictness here.
          const raw = message.rawData;
          text = typeof raw === 'string' ? raw : STRICT_UTF8.decode(message.uint8Array());
        } catch {
          connection.sendError('validation_failed', 'frames must be UTF-8 JSON text', undefined);
          return;
        }
        await handleFrame(services, connection, text);
      },

      pong(peer) {
        const connection = contextOf(peer).connection;
        if (connection) {
          connection.alive = true;
        }
      },

      async close(peer) {
        const connection = contextOf(peer).connection;
        if (!connection) {
          return;
        }
        connection.closing = true;
        connection.dispose();
        metrics.connections.dec();
        hub.remove(connection);
        await presence.closed(connection);
      },

      error(peer, error) {
        // Usually the client's fault (oversize frame, invalid UTF-8): worth a trace, not an alarm
        // that any client could raise at will.
        logger.debug({ peer_id: peer.id, reason: error.message }, 'socket error');
      },
    },
  });

  const heartbeat = setInterval(() => {
    for (const connection of hub.connections()) {
      if (!connection.alive) {
        connection.peer.terminate();
        continue;
      }
      connection.alive = false;
      connection.peer.ping();
    }
  }, config.heartbeatMs);
  heartbeat.unref();

  async function drain(options: Partial<DrainSettings> = {}): Promise<void> {
    const settings: DrainSettings = {
      notReadyMs: config.drainNotReadyMs,
      batchSize: config.drainBatchSize,
      pauseMs: config.drainPauseMs,
      ...options,
    };
    const first = !draining;
    draining = true;
    if (first && settings.notReadyMs > 0) {
      logger.info({ not_ready_ms: settings.notReadyMs }, 'draining: refusing new sockets');
      await sleep(settings.notReadyMs);
    }
    let batches = 0;
    for (;;) {
      const batch = [...hub.connections()].filter((c) => !c.closing).slice(0, settings.batchSize);
      if (batch.length === 0) {
        if (batches > 0) {
          logger.info({ batches, batch_size: settings.batchSize }, 'drained');
        }
        return;
      }
      batches++;
      for (const connection of batch) {
        connection.close(CloseCode.goingAway, 'server going away, reconnect');
      }
      await sleep(settings.pauseMs);
    }
  }

  return {
    adapter,
    hub,
    get load() {
      return hub.connectionCount + upgrading;
    },
    drain,
    async close() {
      clearInterval(heartbeat);
      await drain();
      presence.stop();
      await adapter.close(CloseCode.goingAway, 'server going away, reconnect');
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function refusalResponse(error: AppError): Response {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (error.retryAfterSeconds !== undefined) {
    headers['retry-after'] = String(Math.ceil(error.retryAfterSeconds));
  }
  return new Response(JSON.stringify({ error: { code: error.code, message: error.message } }), {
    status: error.status,
    headers,
  });
}
