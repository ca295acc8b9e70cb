import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mergeHistograms, summarize, type LatencySummary } from '../lib/histogram.ts';
import { stopChild } from '../lib/servers.ts';
import type {
  ConnectResult,
  SendResult,
  SenderPlan,
  WorkerCommand,
  WorkerReply,
  WorkerReport,
} from './messages.ts';
import type { ClientSpec, ProtocolName } from './protocols.ts';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

/** Most sockets one worker holds: well under the 20,000 open files a process may have. */
export const MAX_CLIENTS_PER_WORKER = 15_000;

/** A client as the scenarios describe it, before it is given to a worker. */
export interface ClientPlan {
  token: string;
  rooms: readonly string[];
  endpointIndex: number;
}

/** The workers' reports added up: histograms merged, counts summed, per-room maps joined. */
export type FleetTotals = Omit<WorkerReport, 'type' | 'histogram' | 'ackedUpTo' | 'lastSeen'> & {
  latency: LatencySummary;
  ackedUpTo: Map<string, number>;
  lastSeen: Map<string, number>;
};

/**
 * The load-generator processes of one scenario. Client i goes to worker i % workers; each
 * worker binds its sockets to its own loopback address (127.0.0.2, 127.0.0.3, ...) so no
 * (source, destination) pair runs out of ephemeral ports.
 */
export class Fleet {
  private readonly workers: ChildProcess[] = [];
  /** For each client plan index: its worker and its index inside that worker. */
  private readonly placement: Array<{ worker: number; local: number }> = [];

  private constructor(private readonly protocol: ProtocolName) {}

  static async start(protocol: ProtocolName, workerCount: number): Promise<Fleet> {
    const fleet = new Fleet(protocol);
    for (let i = 0; i < workerCount; i++) {
      const child = fork(WORKER, [], {
        execArgv: ['--import', 'tsx', '--max-old-space-size=2048'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      fleet.workers.push(child);
    }
    return fleet;
  }

  static workersFor(clients: number, minimum: number): number {
    return Math.max(minimum, Math.ceil(clients / MAX_CLIENTS_PER_WORKER));
  }

  get pids(): number[] {
    return this.workers.map((w) => w.pid ?? 0);
  }

  async connect(
    endpoints: readonly string[],
    plans: readonly ClientPlan[],
    options: {
      connectsPerSecond: number;
      /** Over all workers; each gets its share. */
      maxInFlight: number;
      reconnect: boolean;
      timeoutMs: number;
    },
  ): Promise<ConnectResult> {
    const perWorker: ClientSpec[][] = this.workers.map(() => []);
    plans.forEach((plan, i) => {
      const worker = i % this.workers.length;
      const list = perWorker[worker]!;
      this.placement[i] = { worker, local: this.countBefore(worker) + list.length };
      list.push({
        endpoints,
        endpointIndex: plan.endpointIndex,
        token: plan.token,
        rooms: plan.rooms,
        localAddress: `127.0.0.${2 + worker}`,
      });
    });
    const share = options.connectsPerSecond / this.workers.length;
    const results = await this.ask<ConnectResult>((w) => ({
      type: 'connect',
      protocol: this.protocol,
      clients: perWorker[w]!,
      connectsPerSecond: Math.max(1, share),
      maxInFlight: Math.max(1, Math.ceil(options.maxInFlight / this.workers.length)),
      reconnect: options.reconnect,
      timeoutMs: options.timeoutMs,
    }));
    this.connectedCounts = this.connectedCounts.map((c, w) => c + perWorker[w]!.length);
    const errors: Record<string, number> = {};
    for (const result of results) {
      addCounts(errors, result.errors);
    }
    return {
      type: 'connected',
      opened: sum(results.map((r) => r.opened)),
      failed: sum(results.map((r) => r.failed)),
      elapsedMs: Math.max(...results.map((r) => r.elapsedMs)),
      errors,
    };
  }

  private connectedCounts: number[] = [];

  private countBefore(worker: number): number {
    if (this.connectedCounts.length !== this.workers.length) {
      this.connectedCounts = this.workers.map(() => 0);
    }
    return this.connectedCounts[worker]!;
  }

  /**
   * Sends `messagesPerSecond` in total for `durationMs`, spread over the senders (each a client
   * plan index and a room), each worker sending for its own clients.
   */
  async send(
    senders: ReadonlyArray<{ plan: number; room: string }>,
    messagesPerSecond: number,
    durationMs: number,
    bodyBytes: number,
    backplaneUrl?: string,
  ): Promise<{ sent: number; acked: number; ackedUpTo: Map<string, number>; lateMs: number }> {
    const perWorker: SenderPlan[][] = this.workers.map(() => []);
    for (const sender of senders) {
      const place = this.placement[sender.plan]!;
      perWorker[place.worker]!.push({ client: place.local, room: sender.room });
    }
    // One start for all workers, a moment ahead, so they agree on what counts as measured.
    const startAt = Date.now() + 100;
    const results = await this.ask<SendResult>((w) => ({
      type: 'send',
      startAt,
      senders: perWorker[w]!,
      messagesPerSecond: (messagesPerSecond * perWorker[w]!.length) / Math.max(1, senders.length),
      durationMs,
      bodyBytes,
      ...(backplaneUrl ? { backplaneUrl } : {}),
    }));
    const ackedUpTo = new Map<string, number>();
    for (const result of results) {
      for (const [room, counter] of Object.entries(result.ackedUpTo)) {
        ackedUpTo.set(room, Math.max(ackedUpTo.get(room) ?? 0, counter));
      }
    }
    return {
      sent: sum(results.map((r) => r.sent)),
      acked: sum(results.map((r) => r.acked)),
      ackedUpTo,
      lateMs: Math.max(...results.map((r) => r.lateMs)),
    };
  }

  reset(): void {
    for (const worker of this.workers) {
      worker.send({ type: 'reset' } satisfies WorkerCommand);
    }
  }

  async totals(): Promise<FleetTotals> {
    const reports = await this.ask<WorkerReport>(() => ({ type: 'report' }));
    const errors: Record<string, number> = {};
    const lastSeen = new Map<string, number>();
    const ackedUpTo = new Map<string, number>();
    reports.forEach((report, w) => {
      addCounts(errors, report.errors);
      for (const [room, counter] of Object.entries(report.ackedUpTo)) {
        ackedUpTo.set(room, Math.max(ackedUpTo.get(room) ?? 0, counter));
      }
      for (const [key, value] of report.lastSeen) {
        lastSeen.set(`${w}|${key}`, value);
      }
    });
    const histogram = mergeHistograms(reports.map((r) => r.histogram));
    const latency = summarize(histogram);
    histogram.destroy();
    return {
      latency,
      deliveries: sum(reports.map((r) => r.deliveries)),
      open: sum(reports.map((r) => r.open)),
      drops: sum(reports.map((r) => r.drops)),
      reconnects: sum(reports.map((r) => r.reconnects)),
      resumed: sum(reports.map((r) => r.resumed)),
      lastResumedAt: Math.max(...reports.map((r) => r.lastResumedAt)),
      missing: sum(reports.map((r) => r.missing)),
      doubled: sum(reports.map((r) => r.doubled)),
      acked: sum(reports.map((r) => r.acked)),
      ackedUpTo,
      errors,
      lastSeen,
    };
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.workers.map((worker) =>
        stopChild(worker, (child) => child.send({ type: 'close' } satisfies WorkerCommand), 5_000),
      ),
    );
  }

  /** Sends each worker its command and waits for every reply of the matching type. */
  private ask<T extends WorkerReply>(command: (worker: number) => WorkerCommand): Promise<T[]> {
    return Promise.all(
      this.workers.map(
        (worker, w) =>
          new Promise<T>((resolve, reject) => {
            const expected = { connect: 'connected', send: 'sent', report: 'report' } as const;
            const sent = command(w);
            const wanted = expected[sent.type as keyof typeof expected];
            const onMessage = (message: WorkerReply) => {
              if (message.type === wanted) {
                worker.off('message', onMessage);
                worker.off('exit', onExit);
                resolve(message as T);
              }
            };
            const onExit = (code: number | null) => reject(new Error(`worker exited (${code})`));
            worker.on('message', onMessage);
            worker.once('exit', onExit);
            worker.send(sent);
          }),
      ),
    );
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [key, value] of Object.entries(from)) {
    into[key] = (into[key] ?? 0) + value;
  }
}
