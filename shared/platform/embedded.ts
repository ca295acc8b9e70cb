import type { Platform } from '../ports/index.ts';
import { openPlatform } from './open.ts';

export { PERSIST_GROUP } from './open.ts';

/**
 * Every backing service in this process, durable under `dataDir`, with the persisting consumer
 * running: what `npm start` uses when no real server is configured.
 */
export function openEmbeddedPlatform(options: {
  dataDir: string;
  presenceTtlMs: number;
}): Promise<Platform> {
  return openPlatform(
    {
      ...options,
      databaseUrl: undefined,
      databaseReadUrl: undefined,
      redisUrl: undefined,
      kafkaBrokers: [],
      kafkaTopic: 'atlas.messages',
      kafkaPartitions: 1,
      kafkaReplicationFactor: 1,
      cassandraContactPoints: [],
      cassandraDataCenter: 'datacenter1',
      cassandraKeyspace: 'atlas',
      cassandraReplicationFactor: 1,
      kafkaSecurity: { tls: false, tlsCaFile: undefined, sasl: undefined },
      cassandraSecurity: { tls: false, tlsCaFile: undefined, credentials: undefined },
    },
    { persist: true },
  );
}
