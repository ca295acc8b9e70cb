import type { ClientSpec, ProtocolName } from './protocols.ts';

/** One client that sends: `rooms` get messages in turn at the worker's share of the rate. */
export interface SenderPlan {
  client: number;
  room: string;
}

/** Orchestrator -> worker. */
export type WorkerCommand =
  | {
      type: 'connect';
      protocol: ProtocolName;
      clients: ClientSpec[];
      connectsPerSecond: number;
      /** Handshakes this worker has under way at most (see `Pace`). */
      maxInFlight: number;
      /** Reconnect (and resume) when a socket closes that the harness did not close. */
      reconnect: boolean;
      timeoutMs: number;
    }
  | {
      type: 'send';
      /** Wall-clock ms when every worker starts its schedule and starts counting latencies. */
      startAt: number;
      senders: SenderPlan[];
      messagesPerSecond: number;
      durationMs: number;
      /** Body padding so every protocol carries the same payload size. */
      bodyBytes: number;
      /**
       * ATLAS only: publish each message straight onto the Redis backplane as the sequencer
       * would (seq = the sender's counter) instead of sending it over the socket, to measure
       * the delivery path without the send path.
       */
      backplaneUrl?: string;
    }
  | { type: 'reset' }
  | { type: 'report' }
  | { type: 'close' };

export interface ConnectResult {
  type: 'connected';
  opened: number;
  failed: number;
  elapsedMs: number;
  errors: Record<string, number>;
}

export interface SendResult {
  type: 'sent';
  sent: number;
  acked: number;
  /** Highest counter acked per room, for the lost-message check. */
  ackedUpTo: Record<string, number>;
  lateMs: number;
}

export interface WorkerReport {
  type: 'report';
  histogram: string;
  deliveries: number;
  open: number;
  /** Sockets that closed without the harness asking. */
  drops: number;
  reconnects: number;
  resumed: number;
  /** Wall clock (ms since the epoch) of the last resumption. */
  lastResumedAt: number;
  /** Counters a client never received (found by gaps), and received more than once. */
  missing: number;
  doubled: number;
  /** Acks received so far, and the highest counter (or seq) acked per room. */
  acked: number;
  ackedUpTo: Record<string, number>;
  errors: Record<string, number>;
  /** Per client and room, the last contiguous counter received (for the final lost check). */
  lastSeen: Array<[string, number]>;
}

export type WorkerReply = ConnectResult | SendResult | WorkerReport;
