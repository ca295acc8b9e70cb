import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AtlasConfig } from '../config.ts';
import { migrate } from '../db/migrate.ts';
import { openPgSql } from '../db/pg.ts';
import { openPgliteSql } from '../db/pglite.ts';
import { createMemoryCache } from '../embedded/cache.ts';
import { openFileMessageLog } from '../embedded/message-log.ts';
import { openFileMessageStore } from '../embedded/message-store.ts';
import { createMemoryPresence } from '../embedded/presence.ts';
import { createMemoryPubSub } from '../embedded/pubsub.ts';
import { createMemoryRateLimiter } from '../embedded/rate-limiter.ts';
import type { Logger } from '../log.ts';
import type { LogConsumer, MessageLog, MessageStore, Platform, Sql } from '../ports/index.ts';
import { openRedisPlatformParts } from '../redis/platform.ts';
import { openCassandraMessageStore } from '../cassandra/message-store.ts';
import { openKafkaMessageLog } from '../kafka/message-log.ts';
import { lockDataDir } from './data-dir-lock.ts';
import { failOpenLimiter, failSoftCache } from './fail-soft.ts';
import { cassandraClientSecurity, kafkaClientSecurity } from './security.ts';

/** The consumer group that persists the message log into the message store. */
export const PERSIST_GROUP = 'message-store';

export type PlatformConfig = Pick<
  AtlasConfig,
  | 'dataDir'
  | 'presenceTtlMs'
  | 'databaseUrl'
  | 'databaseReadUrl'
  | 'redisUrl'
  | 'kafkaBrokers'
  | 'kafkaTopic'
  | 'kafkaPartitions'
  | 'kafkaReplicationFactor'
  | 'cassandraContactPoints'
  | 'cassandraDataCenter'
  | 'cassandraKeyspace'
  | 'cassandraReplicationFactor'
  | 'kafkaSecurity'
  | 'cassandraSecurity'
>;

export interface OpenPlatformOptions {
  /**
   * Run the persisting consumer (log -> store) in this process and wait until it has caught up
   * before returning, so the store holds all the log holds before any seq is handed out.
   */
  persist: boolean;
  logger?: Logger;
  /** Counts each failed call to the cache, the limiter or pub/sub. */
  onBackplaneError?: (operation: string) => void;
  /** Messages the persisting consumer wrote to the store, and batches the store refused. */
  onPersisted?: (count: number) => void;
  onPersistError?: (error: unknown) => void;
}

/** What each part of the platform runs on, for start-up logs and /readyz. */
export function describePlatform(config: PlatformConfig): Record<string, string> {
  return {
    relational: config.databaseUrl ? 'postgresql' : 'pglite',
    realtime_backplane: config.redisUrl ? 'redis' : 'memory',
    message_log: config.kafkaBrokers.length > 0 ? 'kafka' : 'file',
    message_store: config.cassandraContactPoints.length > 0 ? 'cassandra' : 'file',
  };
}

/**
 * Opens every backing service: the real one where its address is configured, the embedded one
 * otherwise (PGlite, fsynced files, in-process pub/sub, presence, cache and limits), all
 * behind the same interfaces.
 */
export async function openPlatform(
  config: PlatformConfig,
  options: OpenPlatformOptions,
): Promise<Platform> {
  const closers: Array<() => Promise<void>> = [];
  try {
    await mkdir(config.dataDir, { recursive: true });
    if (usesEmbeddedState(config)) {
      closers.unshift(await lockDataDir(config.dataDir, options.logger));
    }
    const sql = await openSql(config);
    closers.unshift(() => sql.close());
    await migrate(sql);

    const backplane = config.redisUrl
      ? await openRedisPlatformParts(config.redisUrl, { presenceTtlMs: config.presenceTtlMs })
      : openMemoryBackplane(config.presenceTtlMs);
    closers.unshift(() => backplane.close());

    const messageLog = await openMessageLog(config, options.logger);
    closers.unshift(() => messageLog.close());
    const messageStore = await openMessageStore(config);
    closers.unshift(() => messageStore.close());

    if (options.persist) {
      const persister: LogConsumer = await messageLog.consume(
        PERSIST_GROUP,
        async function persistBatch(batch) {
          try {
            await messageStore.put(batch);
          } catch (error) {
            options.onPersistError?.(error);
            throw error;
          }
          options.onPersisted?.(batch.length);
        },
      );
      closers.unshift(() => persister.stop());
      // The store holds everything the log held before this process serves anything.
      await persister.caughtUp();
    }

    const report = (error: unknown, operation: string) => {
      options.onBackplaneError?.(operation);
      options.logger?.warn(
        { err: error, operation },
        'backplane call failed; continuing without it',
      );
    };
    return {
      sql,
      messageLog,
      messageStore,
      pubsub: backplane.pubsub,
      presence: backplane.presence,
      cache: failSoftCache(backplane.cache, report),
      limiter: failOpenLimiter(backplane.limiter, report),
      close: () => closeAll(closers),
    };
  } catch (error) {
    await closeAll(closers);
    throw error;
  }
}

/** The embedded database, log or store keep their files in the data directory. */
function usesEmbeddedState(config: PlatformConfig): boolean {
  return (
    !config.databaseUrl ||
    config.kafkaBrokers.length === 0 ||
    config.cassandraContactPoints.length === 0
  );
}

function persistGroupPrefix(config: Pick<PlatformConfig, 'kafkaTopic'>): string {
  return `${config.kafkaTopic}.`;
}

/** The Kafka consumer group id of the persisters of this configuration's topic. */
export function persistGroupId(config: Pick<PlatformConfig, 'kafkaTopic'>): string {
  return persistGroupPrefix(config) + PERSIST_GROUP;
}

async function closeAll(closers: ReadonlyArray<() => Promise<void>>): Promise<void> {
  for (const close of closers) {
    await close().catch(() => undefined);
  }
}

async function openSql(config: PlatformConfig): Promise<Sql> {
  if (config.databaseUrl) {
    return openPgSql({
      connectionString: config.databaseUrl,
      readConnectionString: config.databaseReadUrl,
      readReplicaForSelects: config.databaseReadUrl !== undefined,
    });
  }
  return openPgliteSql(join(config.dataDir, 'postgres'));
}

function openMemoryBackplane(presenceTtlMs: number) {
  const parts = {
    pubsub: createMemoryPubSub(),
    presence: createMemoryPresence({ ttlMs: presenceTtlMs }),
    cache: createMemoryCache({}),
    limiter: createMemoryRateLimiter({}),
  };
  return {
    ...parts,
    async close() {
      await Promise.allSettled(Object.values(parts).map((part) => part.close()));
    },
  };
}

async function openMessageLog(
  config: PlatformConfig,
  logger: Logger | undefined,
): Promise<MessageLog> {
  if (config.kafkaBrokers.length > 0) {
    return openKafkaMessageLog({
      brokers: [...config.kafkaBrokers],
      topic: config.kafkaTopic,
      partitions: config.kafkaPartitions,
      replicationFactor: config.kafkaReplicationFactor,
      clientId: `atlas-${process.pid}`,
      kafka: kafkaClientSecurity(config.kafkaSecurity),
      dlqTopic: `${config.kafkaTopic}.dead-letter`,
      // Deployments with topics of their own never share a consumer group on one cluster.
      groupPrefix: persistGroupPrefix(config),
      maxAttempts: 5,
      ...(logger ? { logger } : {}),
    });
  }
  return openFileMessageLog({ dir: join(config.dataDir, 'message-log') });
}

/** `host` of `host:port` (IPv6 addresses in brackets keep their colons). */
function hostOf(address: string): string {
  const bracketed = /^\[([^\]]+)\]/.exec(address);
  return bracketed?.[1] ?? address.split(':')[0] ?? address;
}

async function openMessageStore(config: PlatformConfig): Promise<MessageStore> {
  if (config.cassandraContactPoints.length > 0) {
    return openCassandraMessageStore({
      contactPoints: [...config.cassandraContactPoints],
      localDataCenter: config.cassandraDataCenter,
      keyspace: config.cassandraKeyspace,
      replication: {
        class: 'NetworkTopologyStrategy',
        [config.cassandraDataCenter]: config.cassandraReplicationFactor,
      },
      client: cassandraClientSecurity(
        config.cassandraSecurity,
        hostOf(config.cassandraContactPoints[0] ?? ''),
      ),
    });
  }
  return openFileMessageStore({ dir: join(config.dataDir, 'message-store') });
}
