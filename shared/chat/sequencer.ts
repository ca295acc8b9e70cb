import { AppError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { ChatMessage, MessageLog, MessageStore } from '../ports/index.ts';

export interface SendRequest {
  roomId: string;
  senderId: string;
  clientMsgId: string;
  body: string;
}

export interface SendResult {
  message: ChatMessage;
  duplicate: boolean;
}

export interface Sequencer {
  submit(request: SendRequest): Promise<SendResult>;
}

export interface SequencerOptions {
  log: MessageLog;
  store: MessageStore;
  /** Called, in seq order per room, for each newly accepted message once it is durable. */
  onAccepted: (message: ChatMessage) => void;
  /** Called for each batch the log refused. */
  onAppendFailure?: () => void;
  /** Called when the store refused a write that the log already holds (it is replayed later). */
  onStoreError: (error: unknown) => void;
  /**
   * Resolves once the store holds everything the log held when called. A refused append may
   * still have landed (a timeout is not a "no"), so before a lane hands out seqs again it waits
   * for this and re-reads the head; otherwise a landed message and a new one could share a seq.
   */
  settleLog?: () => Promise<void>;
  /** How long a lane waits for `settleLog` before refusing its sends as `unavailable`. */
  settleTimeoutMs?: number;
  /** Most sends written to the log in one batch. */
  maxBatch?: number;
  now?: () => number;
}

interface Pending {
  request: SendRequest;
  resolve: (result: SendResult) => void;
  reject: (error: unknown) => void;
}

interface Lane {
  /** Highest seq made durable in the log; undefined until read from the store. */
  head: number | undefined;
  /** An append failed in a way that may have written part of it: settle before numbering. */
  uncertain: boolean;
  queue: Pending[];
  running: boolean;
  /** Accepted sends the store refused, so a retry finds its original before the store has it. */
  recent: Map<string, ChatMessage>;
}

const RECENT_PER_ROOM = 1024;

function sameSend(existing: ChatMessage, request: SendRequest): boolean {
  return existing.body === request.body && existing.senderId === request.senderId;
}

/**
 * Hands out each room's seq. One lane per room, and only one batch of a lane in flight, so the
 * seq it assigns is head + 1, head + 2, ... and head moves only after the log made the batch
 * durable: a failed append hands the same numbers out again, so no seq is skipped or repeated.
 * Concurrent sends to one room share one log append (group commit).
 *
 * TODO(distributed-seq): a lane lives in one process. Several processes sequencing one room
 * need a single owner per room (or a fenced counter); the embedded deployment runs one.
 */
export function createSequencer(options: SequencerOptions): Sequencer {
  const { log, store } = options;
  const maxBatch = options.maxBatch ?? 256;
  const settleLog = options.settleLog ?? (() => Promise.resolve());
  const settleTimeoutMs = options.settleTimeoutMs ?? 10_000;
  const now = options.now ?? Date.now;
  const lanes = new Map<string, Lane>();

  function laneOf(roomId: string): Lane {
    let lane = lanes.get(roomId);
    if (!lane) {
      lane = { head: undefined, uncertain: false, queue: [], running: false, recent: new Map() };
      lanes.set(roomId, lane);
    }
    return lane;
  }

  function remember(lane: Lane, message: ChatMessage): void {
    lane.recent.set(message.clientMsgId, message);
    if (lane.recent.size > RECENT_PER_ROOM) {
      const oldest = lane.recent.keys().next().value;
      if (oldest !== undefined) {
        lane.recent.delete(oldest);
      }
    }
  }

  async function findExisting(lane: Lane, request: SendRequest): Promise<ChatMessage | undefined> {
    const found =
      lane.recent.get(request.clientMsgId) ??
      (await store.findByClientMsgId(request.roomId, request.clientMsgId));
    // A seq whose message was replaced no longer answers for the old clientMsgId.
    return found?.clientMsgId === request.clientMsgId ? found : undefined;
  }

  async function settle(lane: Lane): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new AppError('unavailable', 'the message log is settling, retry', 1)),
        settleTimeoutMs,
      );
    });
    try {
      await Promise.race([settleLog(), timeout]);
    } finally {
      clearTimeout(timer);
    }
    lane.uncertain = false;
    lane.head = undefined;
  }

  async function runBatch(roomId: string, lane: Lane, batch: Pending[]): Promise<void> {
    if (lane.uncertain) {
      await settle(lane);
    }
    if (lane.head === undefined) {
      lane.head = (await store.latest([roomId])).get(roomId)?.seq ?? 0;
    }
    const accepted: Array<{ pending: Pending; result: SendResult }> = [];
    const inBatch = new Map<string, ChatMessage>();
    let next = lane.head;
    for (const pending of batch) {
      const { request } = pending;
      const existing = inBatch.get(request.clientMsgId) ?? (await findExisting(lane, request));
      if (existing) {
        if (sameSend(existing, request)) {
          if (inBatch.has(request.clientMsgId)) {
            accepted.push({ pending, result: { message: existing, duplicate: true } });
          } else {
            pending.resolve({ message: existing, duplicate: true });
          }
        } else {
          pending.reject(
            new AppError(
              'idempotency_conflict',
              'that clientMsgId was used for a different message',
            ),
          );
        }
        continue;
      }
      next++;
      const message: ChatMessage = {
        id: newId(),
        roomId,
        seq: next,
        senderId: request.senderId,
        body: request.body,
        clientMsgId: request.clientMsgId,
        createdAt: new Date(now()).toISOString(),
      };
      inBatch.set(request.clientMsgId, message);
      accepted.push({ pending, result: { message, duplicate: false } });
    }
    const fresh = [...inBatch.values()];
    if (fresh.length === 0) {
      return;
    }
    try {
      await log.append(fresh);
    } catch (error) {
      lane.uncertain = true;
      options.onAppendFailure?.();
      const refusal =
        error instanceof AppError
          ? error
          : new AppError('unavailable', 'the message log is unavailable', 1);
      for (const { pending } of accepted) {
        pending.reject(refusal);
      }
      return;
    }
    lane.head = next;
    try {
      await store.put(fresh);
    } catch (error) {
      // Durable in the log, so accepted; the store catches up from the log. Until then retries
      // must still find these sends, so the lane keeps them.
      for (const message of fresh) {
        remember(lane, message);
      }
      options.onStoreError(error);
    }
    for (const message of fresh) {
      try {
        options.onAccepted(message);
      } catch (error) {
        options.onStoreError(error);
      }
    }
    for (const { pending, result } of accepted) {
      pending.resolve(result);
    }
  }

  async function drain(roomId: string, lane: Lane): Promise<void> {
    lane.running = true;
    try {
      while (lane.queue.length > 0) {
        const batch = lane.queue.splice(0, maxBatch);
        try {
          await runBatch(roomId, lane, batch);
        } catch (error) {
          // A failure before the append (reading the head or dedupe record): nothing was written.
          lane.head = undefined;
          const refusal =
            error instanceof AppError
              ? error
              : new AppError('unavailable', 'the message store is unavailable', 1);
          for (const pending of batch) {
            pending.reject(refusal);
          }
        }
      }
    } finally {
      lane.running = false;
      if (lane.queue.length === 0 && lane.recent.size === 0 && !lane.uncertain) {
        lanes.delete(roomId);
      }
    }
  }

  return {
    submit(request) {
      return new Promise<SendResult>((resolve, reject) => {
        const lane = laneOf(request.roomId);
        lane.queue.push({ request, resolve, reject });
        if (!lane.running) {
          void drain(request.roomId, lane);
        }
      });
    },
  };
}
