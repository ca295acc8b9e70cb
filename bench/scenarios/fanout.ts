import type { BenchSettings } from '../settings.ts';
import type { SystemUnderTest } from '../systems/types.ts';
import { connectPlans, layRooms, measured, round, startFleet, until } from './common.ts';

export type ScenarioResult = Record<string, unknown>;

/**
 * S1: sessions held. Users in rooms of `roomSize`, connected at a fixed rate, held idle; counts
 * drops and the servers' resident memory per connection. A tenth of the sessions (at most
 * 1,000) connect first and are left out of the memory figure: what the processes grow by on
 * their first connections (compiled code, pools, heap headroom) is not a cost per connection.
 * The figure is the RSS growth over the remaining connections divided by their number, each
 * reading taken right after a full garbage collection in every server; the live heap (objects
 * that survived that collection) is reported beside it, being steadier than the resident set.
 */
export async function connectionsHeld(
  system: SystemUnderTest,
  settings: BenchSettings,
  memoryNow: () => Promise<{ rssBytes: number; liveBytes: number }>,
): Promise<ScenarioResult> {
  const { connections, roomSize, connectsPerSecond, holdMs } = settings.s1;
  const layout = await layRooms(system, Math.ceil(connections / roomSize), roomSize);
  const fleet = await startFleet(system, settings, layout.plans.length);
  try {
    const idle = await memoryNow();
    const warmRooms = Math.max(1, Math.min(100, Math.floor(layout.rooms.length / 10)));
    const warm = await connectPlans(fleet, system, layout.plans.slice(0, warmRooms * roomSize), {
      connectsPerSecond,
    });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const warmed = await memoryNow();
    const rest = await connectPlans(fleet, system, layout.plans.slice(warmRooms * roomSize), {
      connectsPerSecond,
    });
    const { result: held, eventLoopP99Ms } = await measured(system, async () => {
      await new Promise((resolve) => setTimeout(resolve, holdMs));
      return fleet.totals();
    });
    const after = await memoryNow();
    const opened = warm.opened + rest.opened;
    const perConnection = (bytes: number) => bytes / 1024 / Math.max(1, rest.opened);
    return {
      connections: opened,
      failed: warm.failed + rest.failed,
      connectErrors: addCounts(warm.errors, rest.errors),
      connectsPerSecond: round(rest.opened / (rest.elapsedMs / 1000), 0),
      heldAfterMs: holdMs,
      open: held.open,
      drops: held.drops,
      serverRssIdleMiB: round(idle.rssBytes / 2 ** 20, 1),
      serverRssMiB: round(after.rssBytes / 2 ** 20, 1),
      measuredConnections: rest.opened,
      rssPerConnectionKiB: round(perConnection(after.rssBytes - warmed.rssBytes), 2),
      liveHeapPerConnectionKiB: round(perConnection(after.liveBytes - warmed.liveBytes), 2),
      eventLoopP99Ms,
    };
  } finally {
    await fleet.stop();
  }
}

/** S2: rooms of ten spread over the nodes at a fixed delivery rate; latency percentiles. */
export async function fanoutLatency(
  system: SystemUnderTest,
  settings: BenchSettings,
  backplaneUrl?: string,
): Promise<ScenarioResult> {
  const { rooms, deliveriesPerSecond, durationMs } = settings.s2;
  const steps = await fanoutSteps(system, settings, rooms, [deliveriesPerSecond], durationMs, {
    stopAboveP99Ms: Infinity,
    backplaneUrl,
  });
  return steps[0] ?? {};
}

/**
 * S3: the same rooms at rising rates; the best rate whose p99 stays under the limit. With
 * `backplaneUrl` (ATLAS), messages are published onto the backplane directly: the delivery path
 * alone, without the send path.
 */
export async function fanoutThroughput(
  system: SystemUnderTest,
  settings: BenchSettings,
  backplaneUrl?: string,
): Promise<ScenarioResult> {
  const { rooms, steps, stepMs, p99LimitMs } = settings.s3;
  const results = await fanoutSteps(system, settings, rooms, steps, stepMs, {
    stopAboveP99Ms: p99LimitMs,
    backplaneUrl,
  });
  const passing = results.filter((r) => (r.p99Ms as number) < p99LimitMs && r.complete);
  const best = passing.at(-1);
  return {
    p99LimitMs,
    bestDeliveriesPerSecond: best?.deliveriesPerSecond ?? 0,
    cpuMicrosPerDelivery: best?.cpuMicrosPerDelivery ?? null,
    deliveriesPerCpuSecond: best?.deliveriesPerCpuSecond ?? null,
    steps: results,
  };
}

async function fanoutSteps(
  system: SystemUnderTest,
  settings: BenchSettings,
  roomCount: number,
  rates: readonly number[],
  stepMs: number,
  options: { stopAboveP99Ms: number; backplaneUrl: string | undefined },
): Promise<ScenarioResult[]> {
  const roomSize = 10;
  const layout = await layRooms(system, roomCount, roomSize);
  const fleet = await startFleet(system, settings, layout.plans.length);
  const results: ScenarioResult[] = [];
  try {
    const connected = await connectPlans(fleet, system, layout.plans);
    // A short warm-up at the first rate, so start-up costs (JIT, connection pools) stay out.
    await fleet.send(
      layout.senders,
      (rates[0] ?? 0) / roomSize,
      settings.warmupMs,
      settings.bodyBytes,
      options.backplaneUrl,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const rate of rates) {
      fleet.reset();
      const expected = Math.floor((rate / roomSize) * (stepMs / 1000)) * roomSize;
      const step = await measured(system, async () => {
        const sent = await fleet.send(
          layout.senders,
          rate / roomSize,
          stepMs,
          settings.bodyBytes,
          options.backplaneUrl,
        );
        // Deliveries still in flight when sending stops belong to this step.
        await until(async () => (await fleet.totals()).deliveries >= expected, 5_000);
        return { sent, totals: await fleet.totals() };
      });
      const { sent, totals } = step.result;
      const deliveries = totals.deliveries;
      results.push({
        deliveriesPerSecond: rate,
        connections: connected.opened,
        connectFailures: connected.failed,
        connectErrors: connected.errors,
        sent: sent.sent,
        acked: sent.acked,
        deliveries,
        complete: deliveries >= expected,
        via: options.backplaneUrl ? 'backplane' : 'socket',
        missing: totals.missing,
        ...totals.latency,
        cpuSeconds: round(step.cpuSeconds),
        cpuMicrosPerDelivery: round((step.cpuSeconds * 1e6) / Math.max(1, deliveries)),
        deliveriesPerCpuSecond: round(deliveries / Math.max(0.01, step.cpuSeconds), 0),
        eventLoopP99Ms: step.eventLoopP99Ms,
        generatorLateMs: sent.lateMs,
        errors: totals.errors,
      });
      if (totals.latency.p99Ms > options.stopAboveP99Ms) {
        break;
      }
    }
  } finally {
    await fleet.stop();
  }
  return results;
}

/** S4: one room of many members over every node, one message at a time: time to the last. */
export async function bigRoomBroadcast(
  system: SystemUnderTest,
  settings: BenchSettings,
): Promise<ScenarioResult> {
  const { members, broadcasts } = settings.s4;
  const layout = await layRooms(system, 1, members);
  const fleet = await startFleet(system, settings, layout.plans.length);
  try {
    const connected = await connectPlans(fleet, system, layout.plans);
    const lastDeliveryMs: number[] = [];
    const p50Ms: number[] = [];
    let cpuSeconds = 0;
    for (let i = 0; i < broadcasts; i++) {
      fleet.reset();
      const step = await measured(system, async () => {
        await fleet.send(layout.senders, 1, 1_000, settings.bodyBytes);
        await until(async () => (await fleet.totals()).deliveries >= connected.opened, 10_000);
        return fleet.totals();
      });
      cpuSeconds += step.cpuSeconds;
      lastDeliveryMs.push(step.result.latency.maxMs);
      p50Ms.push(step.result.latency.p50Ms);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    return {
      members: connected.opened,
      lastDeliveryMs,
      worstLastDeliveryMs: Math.max(...lastDeliveryMs),
      p50Ms,
      cpuMicrosPerDelivery: round((cpuSeconds * 1e6) / (connected.opened * broadcasts)),
    };
  } finally {
    await fleet.stop();
  }
}

function addCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const sum = { ...a };
  for (const [key, value] of Object.entries(b)) {
    sum[key] = (sum[key] ?? 0) + value;
  }
  return sum;
}
