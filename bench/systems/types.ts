import type { ProtocolName } from '../load/protocols.ts';
import type { ServerProcess } from '../lib/servers.ts';

/** What every scenario needs from the system it measures. */
export interface SystemUnderTest {
  readonly name: ProtocolName;
  /** ws:// base URLs, one per server process. */
  readonly endpoints: string[];
  readonly servers: ServerProcess[];
  /** Creates `count` users (ATLAS: accounts with a login) and an access token for each. */
  users(count: number): Promise<Array<{ id: string; token: string; username?: string }>>;
  /** Makes the rooms exist with these members (ATLAS seeds memberships; the peers join). */
  createRooms(rooms: ReadonlyArray<{ id: string; memberIds: readonly string[] }>): Promise<void>;
  /** /metrics URLs exporting event-loop delay, and the metric's name; empty when none. */
  eventLoopMetrics(): { urls: string[]; metric: string };
  /**
   * Runs a full garbage collection in every server process (through the V8 inspector for Node
   * servers, pprof for Go), so memory readings hold live objects only; answers the live heap
   * bytes summed over the servers (Node: V8 heap used plus Buffers; Go: heap plus stacks).
   */
  collectGarbage(): Promise<number>;
  /** Kills one server outright (SIGKILL), as a crash would. */
  kill(node: number): Promise<void>;
  stop(): Promise<void>;
}

export interface StartRequest {
  nodes: number;
  /** Port of node 0; node i listens on basePort + i. */
  basePort: number;
  /** Where server logs and data go for this scenario. */
  workDir: string;
  /** Connections each node must accept. */
  connectionsPerNode: number;
  /** Real Kafka and Cassandra for the message log and store (ATLAS only). */
  durable?: boolean;
  /** ATLAS roles to run in each process (default: realtime only). */
  roles?: readonly string[];
}

export interface Environment {
  databaseUrl: string;
  redisUrl: string;
  kafkaBrokers: string;
  cassandraContactPoints: string;
  /** Token lifetime: longer than the longest scenario. */
  tokenTtlSeconds: number;
}
