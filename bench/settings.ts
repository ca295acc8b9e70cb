/** How big each scenario is: the full run, and the quick smoke run CI uses. */
export interface BenchSettings {
  quick: boolean;
  /** Server processes per system (the same for every peer). */
  nodes: number;
  /** Server ports: node i of a system listens on basePort + i (a distinct range per system). */
  basePort: number;
  /** Load-generator processes at least (more when clients exceed one worker's share). */
  minWorkers: number;
  /** Payload bytes of every message body. */
  bodyBytes: number;
  /** Sending before each measured fan-out phase, not counted. */
  warmupMs: number;
  s1: { connections: number; roomSize: number; connectsPerSecond: number; holdMs: number };
  s2: { rooms: number; deliveriesPerSecond: number; durationMs: number };
  s3: { rooms: number; steps: number[]; stepMs: number; p99LimitMs: number };
  s4: { members: number; broadcasts: number };
  s5: { rooms: number; messagesPerSecond: number; durationMs: number };
  s6: { users: number; concurrency: number; durationMs: number };
  s7: { sessionsPerNode: number; messagesPerSecond: number; durationMs: number };
}

export const FULL: BenchSettings = {
  quick: false,
  nodes: 6,
  basePort: 19100,
  minWorkers: 4,
  bodyBytes: 64,
  warmupMs: 5_000,
  s1: { connections: 100_000, roomSize: 10, connectsPerSecond: 1_500, holdMs: 600_000 },
  s2: { rooms: 1_000, deliveriesPerSecond: 20_000, durationMs: 60_000 },
  s3: {
    rooms: 1_000,
    steps: [10_000, 20_000, 40_000, 60_000, 80_000],
    stepMs: 20_000,
    p99LimitMs: 50,
  },
  s4: { members: 10_000, broadcasts: 5 },
  s5: { rooms: 1_000, messagesPerSecond: 10_000, durationMs: 600_000 },
  s6: { users: 200, concurrency: 16, durationMs: 20_000 },
  s7: { sessionsPerNode: 15_000, messagesPerSecond: 500, durationMs: 60_000 },
};

/** Small versions of every scenario: the whole run takes well under three minutes. */
export const QUICK: BenchSettings = {
  quick: true,
  nodes: 2,
  basePort: 19100,
  minWorkers: 2,
  bodyBytes: 64,
  warmupMs: 500,
  s1: { connections: 2_000, roomSize: 10, connectsPerSecond: 1_000, holdMs: 1_000 },
  s2: { rooms: 30, deliveriesPerSecond: 1_000, durationMs: 2_000 },
  s3: { rooms: 30, steps: [1_000, 2_000], stepMs: 1_500, p99LimitMs: 50 },
  s4: { members: 200, broadcasts: 2 },
  s5: { rooms: 10, messagesPerSecond: 50, durationMs: 2_000 },
  s6: { users: 10, concurrency: 4, durationMs: 1_000 },
  s7: { sessionsPerNode: 100, messagesPerSecond: 40, durationMs: 3_000 },
};
