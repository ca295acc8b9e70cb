import type { BenchSettings } from '../settings.ts';
import type { SystemUnderTest } from '../systems/types.ts';
import type { ScenarioResult } from './fanout.ts';
import { connectPlans, layRooms, round, startFleet, until } from './common.ts';

/**
 * S7: a node holding `sessionsPerNode` sessions is killed (SIGKILL) while messages flow. Its
 * clients reconnect to the next node and resume; afterwards every client's last received
 * counter per room is checked against what the senders had acknowledged.
 */
export async function reconnectStorm(
  system: SystemUnderTest,
  settings: BenchSettings,
): Promise<ScenarioResult> {
  const { sessionsPerNode, messagesPerSecond, durationMs } = settings.s7;
  const nodes = system.endpoints.length;
  const roomSize = 10;
  const roomCount = Math.ceil((sessionsPerNode * nodes) / roomSize);
  // Senders stay on surviving nodes: the storm is about the receivers.
  const layout = await layRooms(system, roomCount, roomSize, (r) => 1 + (r % (nodes - 1)));
  const fleet = await startFleet(system, settings, layout.plans.length);
  try {
    const connected = await connectPlans(fleet, system, layout.plans, { reconnect: true });
    const onKilledNode = layout.plans.filter((p) => p.endpointIndex === 0).length;
    const sending = fleet.send(layout.senders, messagesPerSecond, durationMs, settings.bodyBytes);
    await new Promise((resolve) => setTimeout(resolve, durationMs / 4));
    const killedAt = Date.now();
    await system.kill(0);
    const allResumed = await until(
      async () => (await fleet.totals()).resumed >= onKilledNode,
      Math.max(60_000, durationMs),
    );
    const sent = await sending;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const totals = await fleet.totals();
    let lost = 0;
    for (const [key, last] of totals.lastSeen) {
      const room = key.slice(key.lastIndexOf('|') + 1);
      lost += Math.max(0, (totals.ackedUpTo.get(room) ?? 0) - last);
    }
    return {
      sessions: connected.opened,
      sessionsOnKilledNode: onKilledNode,
      allResumed,
      resumed: totals.resumed,
      secondsToAllResumed: allResumed ? round((totals.lastResumedAt - killedAt) / 1000) : null,
      sent: sent.sent,
      acked: totals.acked,
      lost: lost + totals.missing,
      doubled: totals.doubled,
      errors: totals.errors,
    };
  } finally {
    await fleet.stop();
  }
}
