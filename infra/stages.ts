/**
 * Everything that differs between stages: sizes and counts, nothing else. A stage not listed
 * (a developer's own, `sst deploy --stage alice`) gets the dev sizes.
 */
export interface StageSizes {
  /** Availability zones the VPC spans; MSK puts one broker per zone. */
  zones: number;
  /** NAT for the private subnets: one small EC2 instance, or a managed gateway per zone. */
  nat: 'ec2' | 'managed';
  redisInstance: string;
  /** Redis nodes: one primary plus read replicas for failover. */
  redisNodes: number;
  kafkaInstance: string;
  kafkaBrokersPerZone: number;
  kafkaVolumeGiB: number;
  /** Copies of each message log partition (the brokers' `default.replication.factor`). */
  kafkaReplicationFactor: number;
  kafkaPartitions: number;
  functionMemory: `${number} MB`;
  realtime: ServiceSizes;
  persister: ServiceSizes;
  /** Most chat Lambda instances at once: each holds PostgreSQL and Kafka connections. */
  chatConcurrency: number;
}

export interface ServiceSizes {
  cpu: '0.25 vCPU' | '0.5 vCPU' | '1 vCPU' | '2 vCPU' | '4 vCPU';
  memory: `${number} GB`;
  min: number;
  max: number;
}

const dev: StageSizes = {
  zones: 2,
  nat: 'ec2',
  redisInstance: 't4g.micro',
  redisNodes: 1,
  kafkaInstance: 'kafka.t3.small',
  kafkaBrokersPerZone: 1,
  kafkaVolumeGiB: 20,
  kafkaReplicationFactor: 2,
  kafkaPartitions: 6,
  functionMemory: '1024 MB',
  realtime: { cpu: '0.5 vCPU', memory: '1 GB', min: 1, max: 2 },
  persister: { cpu: '0.25 vCPU', memory: '0.5 GB', min: 1, max: 1 },
  chatConcurrency: 5,
};

const production: StageSizes = {
  zones: 3,
  nat: 'managed',
  redisInstance: 'r7g.large',
  redisNodes: 2,
  kafkaInstance: 'kafka.m7g.large',
  kafkaBrokersPerZone: 1,
  kafkaVolumeGiB: 500,
  kafkaReplicationFactor: 3,
  kafkaPartitions: 48,
  functionMemory: '1769 MB',
  // 100,000 sockets at up to 15,000 per task (ATLAS_MAX_CONNECTIONS) need 7; 10 leaves room
  // for a zone to fail.
  realtime: { cpu: '2 vCPU', memory: '4 GB', min: 10, max: 30 },
  persister: { cpu: '1 vCPU', memory: '2 GB', min: 2, max: 6 },
  chatConcurrency: 100,
};

export function stageSizes(stage: string): StageSizes {
  return stage === 'production' ? production : dev;
}
