import { platformEnvironment } from './data.ts';
import { cluster, containerHealth, image } from './network.ts';
import { allowedOrigins } from './secrets.ts';
import { stageSizes } from './stages.ts';
import { messageEnvironment } from './streaming.ts';

const sizes = stageSizes($app.stage);

/**
 * A custom domain (`ATLAS_DOMAIN=example.com` when deploying) puts the sockets on
 * `wss://ws.<domain>` with a certificate; without one the load balancer listens on plain HTTP.
 */
const domain = process.env.ATLAS_DOMAIN;

/** ALB idle timeout: far above the 25 s WebSocket ping, so only dead sockets are cut. */
const IDLE_TIMEOUT_SECONDS = 3_600;
/** How long a node being replaced keeps its sockets while clients are told to reconnect. */
const DRAIN_SECONDS = 60;
/**
 * A stopping node stays up but not ready this long first: two failed /readyz checks 10 s apart
 * take the balancer 20 s to notice, and no new socket should land on the node after that.
 */
const NOT_READY_MS = 25_000;
/** ECS's SIGTERM-to-SIGKILL grace (its maximum): the not-ready time plus closing every socket. */
const STOP_TIMEOUT_SECONDS = 120;

/**
 * The realtime fleet: the `realtime` role in containers behind an Application Load Balancer
 * (WebSockets need no special listener on an ALB). The balancer sends new sockets only to nodes
 * whose /readyz answers 200; a draining node answers 503 and is then given DRAIN_SECONDS to close
 * its sockets with "going away, reconnect". Scales on CPU and memory, which track sockets.
 */
export const realtime = new sst.aws.Service('Realtime', {
  cluster,
  image,
  command: ['realtime'],
  cpu: sizes.realtime.cpu,
  memory: sizes.realtime.memory,
  environment: {
    ...platformEnvironment,
    ...messageEnvironment,
    HOST: '0.0.0.0',
    PORT: '8080',
    ATLAS_TRUST_PROXY: '1',
    ATLAS_ALLOWED_ORIGINS: allowedOrigins.value,
    ATLAS_DRAIN_NOT_READY_MS: String(NOT_READY_MS),
  },
  health: containerHealth,
  loadBalancer: {
    ...(domain ? { domain: `ws.${domain}` } : {}),
    rules: domain
      ? [
          { listen: '443/https', forward: '8080/http' },
          { listen: '80/http', redirect: '443/https' },
        ]
      : [{ listen: '80/http', forward: '8080/http' }],
    health: {
      '8080/http': {
        path: '/readyz',
        interval: '10 seconds',
        timeout: '5 seconds',
        healthyThreshold: 2,
        unhealthyThreshold: 2,
      },
    },
  },
  scaling: {
    min: sizes.realtime.min,
    max: sizes.realtime.max,
    cpuUtilization: 60,
    memoryUtilization: 70,
    requestCount: false,
    // Adding nodes moves no existing socket: scale out fast, in slowly.
    scaleOutCooldown: '60 seconds',
    scaleInCooldown: '10 minutes',
  },
  transform: {
    loadBalancer: (args) => {
      args.idleTimeout = IDLE_TIMEOUT_SECONDS;
    },
    target: (args) => {
      args.deregistrationDelay = DRAIN_SECONDS;
    },
    taskDefinition: (args) => {
      args.containerDefinitions = $output(args.containerDefinitions).apply((json) =>
        JSON.stringify(
          (JSON.parse(json) as object[]).map((container) => ({
            ...container,
            stopTimeout: STOP_TIMEOUT_SECONDS,
          })),
        ),
      );
    },
    service: (args) => {
      // Replace nodes a few at a time so their sockets reconnect in waves, not all at once.
      args.deploymentMinimumHealthyPercent = 100;
      args.deploymentMaximumPercent = 150;
    },
  },
});
