import * as v from 'valibot';

/** Everything a role reads from its environment, validated once at start-up. */
export interface AtlasConfig {
  host: string;
  port: number;
  dataDir: string;
  /** Exact Origin values allowed to open WebSockets; a request without Origin is allowed. */
  allowedOrigins: readonly string[];
  /** Trust X-Forwarded-For from the load balancer for client addresses. */
  trustProxy: boolean;
  issuer: string;
  audience: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /** PEM-free private JWK (JSON) for signing; generated into dataDir when absent. */
  signingKeyJwk: string | undefined;
  /** Most WebSocket connections this node accepts; the rest get 503 over_capacity. */
  maxConnections: number;
  /** Most WebSocket connections one user may hold on a node (tabs, devices). */
  maxConnectionsPerUser: number;
  /** Outgoing bytes buffered for one socket before it is closed as a slow consumer. */
  maxSocketBufferBytes: number;
  heartbeatMs: number;
  presenceTtlMs: number;
  /** How long a stopping realtime node stays up but not ready before it closes sockets. */
  drainNotReadyMs: number;
  /** Sockets closed per drain batch, and the pause between batches. */
  drainBatchSize: number;
  drainPauseMs: number;
  logLevel: string;
  /** The real data tier; each one left unset is replaced by its embedded default. */
  databaseUrl: string | undefined;
  databaseReadUrl: string | undefined;
  redisUrl: string | undefined;
  kafkaBrokers: readonly string[];
  kafkaTopic: string;
  kafkaPartitions: number;
  /** Copies of each log partition; 3 in production (with min.insync.replicas 2). */
  kafkaReplicationFactor: number;
  cassandraContactPoints: readonly string[];
  cassandraDataCenter: string;
  cassandraKeyspace: string;
  /** Copies of each message in the local data centre when the keyspace is created. */
  cassandraReplicationFactor: number;
  kafkaSecurity: KafkaSecurity;
  cassandraSecurity: CassandraSecurity;
}

/** How the Kafka clients reach managed clusters (MSK with SCRAM, hosted Kafka). */
export interface KafkaSecurity {
  tls: boolean;
  /** PEM bundle of the CAs to trust instead of the system's; implies TLS. */
  tlsCaFile: string | undefined;
  sasl:
    | { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string }
    | undefined;
}

/** How the Cassandra driver reaches clusters that require TLS or password authentication. */
export interface CassandraSecurity {
  tls: boolean;
  /** PEM bundle of the CAs to trust instead of the system's; implies TLS. */
  tlsCaFile: string | undefined;
  credentials: { username: string; password: string } | undefined;
}

const intFrom = (fallback: number, min: number, max: number) =>
  v.pipe(
    v.optional(v.string(), String(fallback)),
    v.transform(Number),
    v.number(),
    v.integer(),
    v.minValue(min),
    v.maxValue(max),
  );

const flag = v.optional(v.picklist(['0', '1', 'true', 'false']), '0');
const isOn = (value: string) => value === '1' || value === 'true';

const EnvSchema = v.object({
  HOST: v.optional(v.string(), '127.0.0.1'),
  PORT: intFrom(8080, 0, 65535),
  ATLAS_DATA_DIR: v.optional(v.string(), './data'),
  ATLAS_ALLOWED_ORIGINS: v.optional(v.string(), ''),
  ATLAS_TRUST_PROXY: v.optional(v.picklist(['0', '1', 'true', 'false']), '0'),
  ATLAS_JWT_ISSUER: v.optional(v.string(), 'atlas'),
  ATLAS_JWT_AUDIENCE: v.optional(v.string(), 'atlas'),
  ATLAS_ACCESS_TOKEN_TTL_SECONDS: intFrom(900, 5, 86_400),
  ATLAS_REFRESH_TOKEN_TTL_SECONDS: intFrom(30 * 86_400, 60, 365 * 86_400),
  ATLAS_SIGNING_KEY: v.optional(v.string()),
  ATLAS_MAX_CONNECTIONS: intFrom(15_000, 1, 19_000),
  ATLAS_MAX_CONNECTIONS_PER_USER: intFrom(20, 1, 1000),
  ATLAS_MAX_SOCKET_BUFFER_BYTES: intFrom(1 << 20, 1024, 64 << 20),
  ATLAS_HEARTBEAT_MS: intFrom(25_000, 100, 600_000),
  ATLAS_PRESENCE_TTL_MS: intFrom(60_000, 1_000, 3_600_000),
  ATLAS_DRAIN_NOT_READY_MS: intFrom(0, 0, 120_000),
  ATLAS_DRAIN_BATCH_SIZE: intFrom(500, 1, 20_000),
  ATLAS_DRAIN_PAUSE_MS: intFrom(50, 0, 60_000),
  LOG_LEVEL: v.optional(v.picklist(['trace', 'debug', 'info', 'warn', 'error', 'silent']), 'info'),
  DATABASE_URL: v.optional(v.pipe(v.string(), v.startsWith('postgres'))),
  DATABASE_READ_URL: v.optional(v.pipe(v.string(), v.startsWith('postgres'))),
  REDIS_URL: v.optional(v.pipe(v.string(), v.startsWith('redis'))),
  KAFKA_BROKERS: v.optional(v.string(), ''),
  KAFKA_TOPIC: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]{1,200}$/)), 'atlas.messages'),
  KAFKA_PARTITIONS: intFrom(12, 1, 1000),
  KAFKA_REPLICATION_FACTOR: intFrom(1, 1, 7),
  CASSANDRA_REPLICATION_FACTOR: intFrom(1, 1, 7),
  CASSANDRA_CONTACT_POINTS: v.optional(v.string(), ''),
  CASSANDRA_DATACENTER: v.optional(v.string(), 'datacenter1'),
  CASSANDRA_KEYSPACE: v.optional(v.pipe(v.string(), v.regex(/^[a-z][a-z0-9_]{0,47}$/)), 'atlas'),
  KAFKA_TLS: flag,
  KAFKA_TLS_CA_FILE: v.optional(v.pipe(v.string(), v.minLength(1))),
  KAFKA_SASL_MECHANISM: v.optional(v.picklist(['plain', 'scram-sha-256', 'scram-sha-512'])),
  KAFKA_SASL_USERNAME: v.optional(v.pipe(v.string(), v.minLength(1))),
  KAFKA_SASL_PASSWORD: v.optional(v.pipe(v.string(), v.minLength(1))),
  CASSANDRA_TLS: flag,
  CASSANDRA_TLS_CA_FILE: v.optional(v.pipe(v.string(), v.minLength(1))),
  CASSANDRA_USERNAME: v.optional(v.pipe(v.string(), v.minLength(1))),
  CASSANDRA_PASSWORD: v.optional(v.pipe(v.string(), v.minLength(1))),
});

type Env = v.InferOutput<typeof EnvSchema>;

function kafkaSecurity(e: Env): KafkaSecurity {
  const mechanism = e.KAFKA_SASL_MECHANISM;
  const username = e.KAFKA_SASL_USERNAME;
  const password = e.KAFKA_SASL_PASSWORD;
  const given = [mechanism, username, password].filter((value) => value !== undefined).length;
  if (given !== 0 && given !== 3) {
    throw new TypeError(
      'invalid configuration: KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD go together',
    );
  }
  return {
    tls: isOn(e.KAFKA_TLS) || e.KAFKA_TLS_CA_FILE !== undefined,
    tlsCaFile: e.KAFKA_TLS_CA_FILE,
    sasl:
      mechanism !== undefined && username !== undefined && password !== undefined
        ? { mechanism, username, password }
        : undefined,
  };
}

function cassandraSecurity(e: Env): CassandraSecurity {
  const { CASSANDRA_USERNAME: username, CASSANDRA_PASSWORD: password } = e;
  if ((username === undefined) !== (password === undefined)) {
    throw new TypeError(
      'invalid configuration: CASSANDRA_USERNAME and CASSANDRA_PASSWORD go together',
    );
  }
  return {
    tls: isOn(e.CASSANDRA_TLS) || e.CASSANDRA_TLS_CA_FILE !== undefined,
    tlsCaFile: e.CASSANDRA_TLS_CA_FILE,
    credentials:
      username !== undefined && password !== undefined ? { username, password } : undefined,
  };
}

const list = (text: string) =>
  text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

/** Reads the configuration; a bad value is a deployment mistake and fails with a TypeError. */
export function loadConfig(env: Record<string, string | undefined> = process.env): AtlasConfig {
  const parsed = v.safeParse(EnvSchema, env);
  if (!parsed.success) {
    const problems = parsed.issues
      .map((issue) => `${v.getDotPath(issue) ?? '?'}: ${issue.message}`)
      .join('; ');
    throw new TypeError(`invalid configuration: ${problems}`);
  }
  const e = parsed.output;
  const port = e.PORT;
  return {
    host: e.HOST,
    port,
    dataDir: e.ATLAS_DATA_DIR,
    allowedOrigins: list(e.ATLAS_ALLOWED_ORIGINS),
    trustProxy: e.ATLAS_TRUST_PROXY === '1' || e.ATLAS_TRUST_PROXY === 'true',
    issuer: e.ATLAS_JWT_ISSUER,
    audience: e.ATLAS_JWT_AUDIENCE,
    accessTokenTtlSeconds: e.ATLAS_ACCESS_TOKEN_TTL_SECONDS,
    refreshTokenTtlSeconds: e.ATLAS_REFRESH_TOKEN_TTL_SECONDS,
    signingKeyJwk: e.ATLAS_SIGNING_KEY,
    maxConnections: e.ATLAS_MAX_CONNECTIONS,
    maxConnectionsPerUser: e.ATLAS_MAX_CONNECTIONS_PER_USER,
    maxSocketBufferBytes: e.ATLAS_MAX_SOCKET_BUFFER_BYTES,
    heartbeatMs: e.ATLAS_HEARTBEAT_MS,
    presenceTtlMs: e.ATLAS_PRESENCE_TTL_MS,
    drainNotReadyMs: e.ATLAS_DRAIN_NOT_READY_MS,
    drainBatchSize: e.ATLAS_DRAIN_BATCH_SIZE,
    drainPauseMs: e.ATLAS_DRAIN_PAUSE_MS,
    logLevel: e.LOG_LEVEL,
    databaseUrl: e.DATABASE_URL,
    databaseReadUrl: e.DATABASE_READ_URL,
    redisUrl: e.REDIS_URL,
    kafkaBrokers: list(e.KAFKA_BROKERS),
    kafkaTopic: e.KAFKA_TOPIC,
    kafkaPartitions: e.KAFKA_PARTITIONS,
    kafkaReplicationFactor: e.KAFKA_REPLICATION_FACTOR,
    cassandraContactPoints: list(e.CASSANDRA_CONTACT_POINTS),
    cassandraDataCenter: e.CASSANDRA_DATACENTER,
    cassandraKeyspace: e.CASSANDRA_KEYSPACE,
    cassandraReplicationFactor: e.CASSANDRA_REPLICATION_FACTOR,
    kafkaSecurity: kafkaSecurity(e),
    cassandraSecurity: cassandraSecurity(e),
  };
}
