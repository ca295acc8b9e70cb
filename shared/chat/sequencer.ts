import { withoutFence } from '../embedded/chat-message.ts';
import { AppError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { ChatMessage, MessageLog, MessageStore, NumberedMessage } from '../ports/index.ts';
import type { Receipt, RoomHeads } from './room-heads.ts';

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
  /**
   * The store itself, not a committed view. Each batch is written to it before the ack (so
   * history has it at once); a refused write is left to the persisting consumers.
   */
  store: MessageStore;
  heads: RoomHeads;
  /** Called, in seq order per room, for each newly accepted message once it is committed. */
  onAccepted: (message: ChatMessage) => void;
  /** Called for each batch the log refused. */
  onAppendFailure?: () => void;
  /** Called for each batch the store refused (the batch is still committed: the log has it). */
  onStoreError: (error: unknown) => void;
  /** Most sends numbered in one batch. */
  maxBatch?: number;
  /**
   * After the store refused a write-through, batches skip it for this long (default 2000 ms)
   * rather than each wait for it to fail or time out: an outage must not stall every send.
   */
  storePauseMs?: number;
  now?: () => number;
}

interface Pending {
  request: SendRequest;
  resolve: (result: SendResult) => void;
  reject: (error: unknown) => void;
}

interface Lane {
  queue: Pending[];
  running: boolean;
}

/** SHA-256 of a body, base64url; Web Crypto, so the same code runs on every runtime. */
export async function bodyDigest(body: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest('SHA-256', new TextEncoder().encode(body)),
  );
  return btoa(String.fromCharCode(...digest))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

function fromReceipt(receipt: Receipt, request: SendRequest): ChatMessage {
  return {
    id: receipt.messageId,
    roomId: request.roomId,
    seq: receipt.seq,
    senderId: receipt.senderId,
    body: request.body,
    clientMsgId: receipt.clientMsgId,
    createdAt: receipt.createdAt,
  };
}

function refusal(error: unknown, what: string): AppError {
  return error instanceof AppError ? error : new AppError('unavailable', `${what}, retry`, 1);
}

/**
 * Hands out each room's seq, in any number of processes at once. A process keeps one lane per
 * room that runs one batch at a time (concurrent sends to a room share one log append: group
 * commit). Each batch runs under the room's committed head (RoomHeads.advance, a row lock in
 * PostgreSQL): it answers retried clientMsgIds from the room's receipts, numbers its new sends
 * head + 1, head + 2, ..., appends them to the log, writes them through to the store, and only
 * then commits the new head with their receipts and acks. The log is where a message becomes
 * durable: a store that refuses the write-through does not stop the batch. A batch that fails
 * before its commit leaves the head where it was, so the next batch hands the same numbers out
 * again with a higher fence: whatever the failed batch left in the log or the store is above the
 * head (unseen) or replaced. docs/sequencing.md has the whole argument.
 */
export function createSequencer(options: SequencerOptions): Sequencer {
  const { log, store, heads } = options;
  const maxBatch = options.maxBatch ?? 256;
  const now = options.now ?? Date.now;
  const storePauseMs = options.storePauseMs ?? 2_000;
  const lanes = new Map<string, Lane>();
  /** Until when write-throughs are skipped, after the store refused one. */
  let storeResumesAt = 0;

  async function writeThrough(messages: NumberedMessage[]): Promise<void> {
    if (Date.now() < storeResumesAt) {
      return;
    }
    try {
      await store.put(messages);
    } catch (error) {
      // Durable in the log: the persisting consumers store it when the store is back, and
      // readers wait for them rather than see a hole (committedMessages).
      storeResumesAt = Date.now() + storePauseMs;
      options.onStoreError(error);
    }
  }

  async function runBatch(roomId: string, batch: Pending[]): Promise<void> {
    const numbered: Array<{ pending: Pending; message: NumberedMessage; duplicate: boolean }> = [];
    const settled = new Set<Pending>();
    let stage = 'the room head is unavailable';
    try {
      const digests = await Promise.all(batch.map((pending) => bodyDigest(pending.request.body)));
      await heads.advance(roomId, async (claim) => {
        const committed = await claim.receipts(batch.map((pending) => pending.request.clientMsgId));
        const inBatch = new Map<string, { message: NumberedMessage; digest: string }>();
        const receipts: Receipt[] = [];
        let next = claim.head;
        batch.forEach((pending, index) => {
          const { request } = pending;
          const digest = digests[index] as string;
          const fresh = inBatch.get(request.clientMsgId);
          const receipt = committed.get(request.clientMsgId);
          const earlier = fresh
            ? { senderId: fresh.message.senderId, digest: fresh.digest }
            : receipt && { senderId: receipt.senderId, digest: receipt.bodyDigest };
          if (earlier && (earlier.senderId !== request.senderId || earlier.digest !== digest)) {
            settled.add(pending);
            pending.reject(
              new AppError(
                'idempotency_conflict',
                'that clientMsgId was used for a different message',
              ),
            );
          } else if (fresh) {
            numbered.push({ pending, message: fresh.message, duplicate: true });
          } else if (receipt) {
            // Committed by an earlier batch, so it can be answered now.
            settled.add(pending);
            pending.resolve({ message: fromReceipt(receipt, request), duplicate: true });
          } else {
            next++;
            const message: NumberedMessage = {
              id: newId(),
              roomId,
              seq: next,
              senderId: request.senderId,
              body: request.body,
              clientMsgId: request.clientMsgId,
              createdAt: new Date(now()).toISOString(),
              fence: claim.fence,
            };
            inBatch.set(request.clientMsgId, { message, digest });
            receipts.push({
              clientMsgId: message.clientMsgId,
              seq: message.seq,
              messageId: message.id,
              senderId: message.senderId,
              bodyDigest: digest,
              createdAt: message.createdAt,
            });
            numbered.push({ pending, message, duplicate: false });
          }
        });
        const fresh = [...inBatch.values()].map((entry) => entry.message);
        if (fresh.length > 0) {
          stage = 'the message log is unavailable';
          try {
            await log.append(fresh);
          } catch (error) {
            options.onAppendFailure?.();
            throw error;
          }
          await writeThrough(fresh);
          stage = 'the room head could not be committed';
        }
        return { head: next, receipts, value: undefined };
      });
    } catch (error) {
      const reason = refusal(error, stage);
      for (const pending of batch) {
        if (!settled.has(pending)) {
          pending.reject(reason);
        }
      }
      return;
    }
    for (const { message, duplicate } of numbered) {
      if (!duplicate) {
        options.onAccepted(withoutFence(message));
      }
    }
    for (const { pending, message, duplicate } of numbered) {
      pending.resolve({ message: withoutFence(message), duplicate });
    }
  }

  async function drain(roomId: string, lane: Lane): Promise<void> {
    lane.running = true;
    try {
      while (lane.queue.length > 0) {
        await runBatch(roomId, lane.queue.splice(0, maxBatch));
      }
    } finally {
      lane.running = false;
      if (lane.queue.length === 0) {
        lanes.delete(roomId);
      }
    }
  }

  return {
    submit(request) {
      return new Promise<SendResult>((resolve, reject) => {
        let lane = lanes.get(request.roomId);
        if (!lane) {
          lane = { queue: [], running: false };
          lanes.set(request.roomId, lane);
        }
        lane.queue.push({ request, resolve, reject });
        if (!lane.running) {
          void drain(request.roomId, lane);
        }
      });
    },
  };
}
