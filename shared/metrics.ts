import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The Prometheus metrics of one process. Each process has its own registry (tests start several
 * servers in one process), served at /metrics by every role. `processMetrics: false` leaves out
 * the process gauges (CPU, memory, event loop), which edge runtimes cannot measure.
 */
export function createMetrics(options: { processMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.processMetrics ?? true) {
    collectDefaultMetrics({ register: registry, prefix: 'atlas_process_' });
  }
  const counter = (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name, help, labelNames, registers: [registry] });
  return {
    registry,
    connections: new Gauge({
      name: 'atlas_ws_connections',
      help: 'WebSocket connections open on this node',
      registers: [registry],
    }),
    upgradesRefused: counter('atlas_ws_upgrades_refused_total', 'Upgrades refused, by error code', [
      'code',
    ]),
    framesIn: counter('atlas_ws_frames_in_total', 'Frames received from clients'),
    framesRefused: counter(
      'atlas_ws_frames_refused_total',
      'Frames answered with an error, by code',
      ['code'],
    ),
    deliveries: counter('atlas_ws_deliveries_total', 'Live message frames sent to connections'),
    gaps: counter(
      'atlas_delivery_gaps_total',
      'Live messages that arrived out of order and were filled from the store',
    ),
    slowConsumers: counter(
      'atlas_ws_slow_consumer_closes_total',
      'Connections closed for not reading',
    ),
    fanoutSeconds: new Histogram({
      name: 'atlas_fanout_seconds',
      help: 'Time from accepting a message to handing it to the local connections of its room',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    messagesAccepted: counter('atlas_messages_accepted_total', 'Messages made durable and acked'),
    dedupeHits: counter(
      'atlas_dedupe_hits_total',
      'Sends answered with an earlier message (duplicate: true)',
    ),
    appendFailures: counter('atlas_log_append_failures_total', 'Batches the message log refused'),
    storeErrors: counter('atlas_store_write_errors_total', 'Message store writes that failed'),
    messagesPersisted: counter(
      'atlas_persisted_messages_total',
      'Messages the persisting consumer copied from the log into the store',
    ),
    persistErrors: counter(
      'atlas_persist_errors_total',
      'Batches the persisting consumer could not write to the store (retried)',
    ),
    rateLimited: counter(
      'atlas_rate_limited_total',
      'Requests and frames refused by a rate limit',
      ['scope'],
    ),
    backplaneErrors: counter(
      'atlas_backplane_errors_total',
      'Failed cache, limiter or pub/sub calls',
      ['operation'],
    ),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * `atlas_persist_lag_messages`: messages in the log the persisting group has not committed yet,
 * read from Kafka on every scrape.
 */
export function registerPersistLag(metrics: Metrics, lag: () => Promise<number>): void {
  new Gauge({
    name: 'atlas_persist_lag_messages',
    help: 'Messages appended to the log and not yet persisted by the consumer group',
    registers: [metrics.registry],
    async collect() {
      try {
        this.set(await lag());
      } catch {
        // Kafka unreachable: leave the last value; the persisters' own logs say why.
      }
    },
  });
}
