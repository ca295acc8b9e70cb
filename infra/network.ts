import { stageSizes } from './stages.ts';

const sizes = stageSizes($app.stage);

/**
 * The private network everything runs in: public subnets for the load balancer and NAT,
 * private subnets for the functions, containers, Redis and Kafka. Nothing in the data tier has
 * a public address.
 */
export const vpc = new sst.aws.Vpc('Vpc', { az: sizes.zones, nat: sizes.nat });

/** The VPC's address range, for security group rules that admit only its own traffic. */
export const vpcCidr = vpc.nodes.vpc.cidrBlock;

/** The ECS cluster the long-running containers (realtime nodes, persisters) run in. */
export const cluster = new sst.aws.Cluster('Cluster', { vpc });

/**
 * The container health check (the image's HEALTHCHECK says the same): the process answers
 * `/healthz` on its port. Readiness (`/readyz`, 503 while draining) is the load balancer's check.
 */
export const containerHealth = {
  command: [
    'CMD',
    'node',
    '-e',
    "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))",
  ],
  startPeriod: '60 seconds',
  interval: '15 seconds',
  timeout: '5 seconds',
} satisfies sst.aws.ServiceArgs['health'];

/** Where the containers run from: the repository's Dockerfile, the role given as its command. */
export const image = { context: '.', dockerfile: 'Dockerfile' };
