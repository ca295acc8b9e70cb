import { cassandraEnvironment, platformEnvironment } from './data.ts';
import { cluster, containerHealth, image, vpc, vpcCidr } from './network.ts';
import { stageSizes } from './stages.ts';

const sizes = stageSizes($app.stage);
const KAFKA_VERSION = '3.9.x';

/** Admits Kafka clients from inside the VPC only (TLS, 9094). */
const kafkaAccess = new aws.ec2.SecurityGroup('KafkaAccess', {
  vpcId: vpc.id,
  description: 'Kafka clients inside the VPC',
  ingress: [{ protocol: 'tcp', fromPort: 9094, toPort: 9094, cidrBlocks: [vpcCidr] }],
  egress: [{ protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'] }],
});

/**
 * Broker settings: ATLAS creates its topic itself with the partition and replica counts it is
 * given; an acknowledged append must be on a majority of replicas.
 */
const kafkaConfiguration = new aws.msk.Configuration('KafkaConfiguration', {
  kafkaVersions: [KAFKA_VERSION],
  serverProperties: [
    'auto.create.topics.enable=false',
    `default.replication.factor=${sizes.kafkaReplicationFactor}`,
    `min.insync.replicas=${Math.max(1, sizes.kafkaReplicationFactor - 1)}`,
    'unclean.leader.election.enable=false',
  ].join('\n'),
});

/**
 * Amazon MSK: the message log. One broker per zone (or more), in the private subnets. Clients
 * talk TLS only (port 9094), verified against the system's CAs; access is by security group.
 */
export const kafka = new aws.msk.Cluster('Kafka', {
  clusterName: `atlas-${$app.stage}`.slice(0, 64),
  kafkaVersion: KAFKA_VERSION,
  numberOfBrokerNodes: sizes.zones * sizes.kafkaBrokersPerZone,
  brokerNodeGroupInfo: {
    instanceType: sizes.kafkaInstance,
    clientSubnets: vpc.privateSubnets,
    securityGroups: [kafkaAccess.id],
    storageInfo: { ebsStorageInfo: { volumeSize: sizes.kafkaVolumeGiB } },
  },
  encryptionInfo: { encryptionInTransit: { clientBroker: 'TLS', inCluster: true } },
  configurationInfo: { arn: kafkaConfiguration.arn, revision: kafkaConfiguration.latestRevision },
});

/** What every process that appends to or reads the message log is given. */
export const messageEnvironment = {
  KAFKA_BROKERS: kafka.bootstrapBrokersTls,
  KAFKA_TLS: '1',
  KAFKA_PARTITIONS: String(sizes.kafkaPartitions),
  KAFKA_REPLICATION_FACTOR: String(sizes.kafkaReplicationFactor),
  ...cassandraEnvironment,
};

/**
 * The persisting consumers: the `persister` role (the same consumer code the self-hosted fleet
 * runs) as a container service with no load balancer, copying the log into the message store
 * and committing offsets after each write. Kafka spreads the partitions over its tasks.
 */
export const persister = new sst.aws.Service('Persister', {
  cluster,
  image,
  command: ['persister'],
  cpu: sizes.persister.cpu,
  memory: sizes.persister.memory,
  environment: { ...platformEnvironment, ...messageEnvironment, PORT: '8080', HOST: '0.0.0.0' },
  health: containerHealth,
  scaling: { min: sizes.persister.min, max: sizes.persister.max, cpuUtilization: 70 },
});
