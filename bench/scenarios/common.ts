import { newId } from '../../shared/ids.ts';
import { Fleet, type ClientPlan } from '../load/fleet.ts';
import { eventLoopP99Ms } from '../lib/prom.ts';
import { sampleProcesses } from '../lib/proc.ts';
import type { BenchSettings } from '../settings.ts';
import type { SystemUnderTest } from '../systems/types.ts';

export interface RoomLayout {
  rooms: Array<{ id: string; memberIds: string[] }>;
  plans: ClientPlan[];
  /** Plan index of each room's sender (its first member). */
  senders: Array<{ plan: number; room: string }>;
}

/**
 * `roomCount` rooms of `roomSize` fresh users each; member j of room r connects to node
 * (r + j) % nodes, so every room spans the nodes and every message crosses the backplane.
 */
export async function layRooms(
  system: SystemUnderTest,
  roomCount: number,
  roomSize: number,
  senderNode?: (room: number) => number,
): Promise<RoomLayout> {
  const nodes = system.endpoints.length;
  const users = await system.users(roomCount * roomSize);
  const layout: RoomLayout = { rooms: [], plans: [], senders: [] };
  for (let r = 0; r < roomCount; r++) {
    const id = newId();
    const members = users.slice(r * roomSize, (r + 1) * roomSize);
    layout.rooms.push({ id, memberIds: members.map((m) => m.id) });
    const first = layout.plans.length;
    members.forEach((member, j) => {
      layout.plans.push({ token: member.token, rooms: [id], endpointIndex: (r + j) % nodes });
    });
    const sender = senderNode
      ? Math.max(
          0,
          layout.plans.slice(first).findIndex((p) => p.endpointIndex === senderNode(r)),
        )
      : 0;
    layout.senders.push({ plan: first + sender, room: id });
  }
  await system.createRooms(layout.rooms);
  return layout;
}

/** CPU seconds spent by the system's servers while `work` ran, and what `work` returned. */
export async function measured<T>(
  system: SystemUnderTest,
  work: () => Promise<T>,
): Promise<{ result: T; cpuSeconds: number; eventLoopP99Ms: number | undefined }> {
  const pids = system.servers.map((s) => s.pid);
  const { urls, metric } = system.eventLoopMetrics();
  await eventLoopP99Ms(urls, metric); // a scrape resets the nodes' delay histograms
  const before = sampleProcesses(pids).cpuSeconds;
  const result = await work();
  const cpuSeconds = sampleProcesses(pids).cpuSeconds - before;
  return { result, cpuSeconds, eventLoopP99Ms: await eventLoopP99Ms(urls, metric) };
}

export function serverRssBytes(system: SystemUnderTest): number {
  return sampleProcesses(system.servers.map((s) => s.pid)).rssBytes;
}

export async function startFleet(
  system: SystemUnderTest,
  settings: BenchSettings,
  clients: number,
): Promise<Fleet> {
  return Fleet.start(system.name, Fleet.workersFor(clients, settings.minWorkers));
}

/**
 * Handshakes under way at once per server process, for every system alike: like a pool of
 * clients that wait for an answer before trying the next one, so a system that accepts slower
 * than the offered rate is ramped at its own pace rather than buried in timeouts.
 */
const HANDSHAKES_IN_FLIGHT_PER_NODE = 64;

/**
 * Connects the clients of `plans` as fast as the system takes them (offered at 2,000 a second,
 * at most `HANDSHAKES_IN_FLIGHT_PER_NODE` per server under way; the deadline allows for a slow
 * 100 a second).
 */
export function connectPlans(
  fleet: Fleet,
  system: SystemUnderTest,
  plans: readonly ClientPlan[],
  options: { reconnect?: boolean; connectsPerSecond?: number } = {},
) {
  return fleet.connect(system.endpoints, plans, {
    connectsPerSecond: options.connectsPerSecond ?? 2_000,
    maxInFlight: HANDSHAKES_IN_FLIGHT_PER_NODE * system.endpoints.length,
    reconnect: options.reconnect ?? false,
    timeoutMs: 60_000 + plans.length * 10,
  });
}

/** Waits until `done()` or the timeout; polls every 100 ms. */
export async function until(done: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await done()) {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

export const round = (value: number, digits = 2) => {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
};

/** Logs how long each phase of a scenario took (to stderr), to see where a run's time goes. */
export function phaseTimer(scenario: string): (phase: string) => void {
  let last = Date.now();
  return (phase) => {
    const now = Date.now();
    console.error(`${scenario} ${phase} after ${((now - last) / 1000).toFixed(1)} s`);
    last = now;
  };
}
