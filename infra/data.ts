import { vpc } from './network.ts';
import { databaseUrl, signingKey } from './secrets.ts';
import { stageSizes } from './stages.ts';

const sizes = stageSizes($app.stage);

/**
 * Redis (ElastiCache, Valkey engine): realtime pub/sub between nodes, presence, the cache and
 * the rate limits. Not in cluster mode: ATLAS's pub/sub uses one connection per node, and a
 * replication group with one primary (plus replicas in production) serves it. TLS is required,
 * hence `rediss://`.
 */
export const redis = new sst.aws.Redis('Redis', {
  vpc,
  engine: 'valkey',
  instance: sizes.redisInstance,
  cluster: false,
  transform: {
    cluster: (args) => {
      args.numCacheClusters = sizes.redisNodes;
      args.automaticFailoverEnabled = sizes.redisNodes > 1;
      args.multiAzEnabled = sizes.redisNodes > 1;
    },
  },
});

export const redisUrl = $interpolate`rediss://${redis.username}:${redis.password}@${redis.host}:${redis.port}`;

/**
 * Amazon Keyspaces (Cassandra-compatible, serverless) as the message store. The keyspace is
 * declared here; the store creates its tables with CQL at start-up, as it does on Cassandra.
 * Keyspaces speaks CQL on port 9142 with TLS only; the store logs in with service-specific
 * credentials of an IAM user of its own.
 * TODO(keyspaces-timestamps): the store orders rewrites of a seq by client-side write
 * timestamps (`USING TIMESTAMP`), which Keyspaces accepts only on tables created with
 * client-side timestamps enabled, a Keyspaces-only table property the portable CQL migration
 * does not set; docs/deploy.md has the one statement per table to run after the first deploy.
 */
export const keyspace = new aws.keyspaces.Keyspace('Messages', {
  name: `atlas_${$app.stage.replace(/[^a-z0-9_]/g, '_')}`.slice(0, 48),
});

const keyspacesUser = new aws.iam.User('MessageStoreUser', {
  name: `atlas-${$app.stage}-message-store`.slice(0, 64),
});

new aws.iam.UserPolicy('MessageStoreAccess', {
  user: keyspacesUser.name,
  policy: $jsonStringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['cassandra:*'],
        Resource: [
          $interpolate`arn:aws:cassandra:*:*:/keyspace/${keyspace.name}/*`,
          $interpolate`arn:aws:cassandra:*:*:/keyspace/${keyspace.name}`,
          'arn:aws:cassandra:*:*:/keyspace/system*',
        ],
      },
    ],
  }),
});

const keyspacesLogin = new aws.iam.ServiceSpecificCredential('MessageStoreLogin', {
  serviceName: 'cassandra.amazonaws.com',
  userName: keyspacesUser.name,
});

export const cassandraEnvironment = {
  CASSANDRA_CONTACT_POINTS: $interpolate`cassandra.${aws.getRegionOutput().name}.amazonaws.com:9142`,
  // Keyspaces reports one data centre per region, named after the region.
  CASSANDRA_DATACENTER: aws.getRegionOutput().name,
  CASSANDRA_KEYSPACE: keyspace.name,
  CASSANDRA_TLS: '1',
  CASSANDRA_USERNAME: keyspacesLogin.serviceUserName,
  CASSANDRA_PASSWORD: keyspacesLogin.servicePassword,
};

/**
 * PostgreSQL lives on Neon (serverless PostgreSQL outside AWS): its connection string is a
 * secret. Functions on Lambda and the containers use it with `pg`; the edge entries with the
 * Neon driver.
 */
export const platformEnvironment = {
  DATABASE_URL: databaseUrl.value,
  ATLAS_SIGNING_KEY: signingKey.value,
  REDIS_URL: redisUrl,
  NODE_ENV: 'production',
};
