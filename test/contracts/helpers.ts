import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { NumberedMessage } from '../../shared/ports/messages.ts';

/** A fresh empty directory under the OS temp dir. */
export function makeTempDir(prefix = 'atlas-contract-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

/** A key prefix no other test uses, for adapters whose state outlives one test (Redis). */
export function uniqueNamespace(): string {
  return `contract-${randomUUID()}`;
}

/**
 * A valid numbered message (fence 1 unless overridden); `id` and `clientMsgId` are derived from
 * room and seq unless overridden.
 */
export function chatMessage(
  roomId: string,
  seq: number,
  overrides: Partial<NumberedMessage> = {},
): NumberedMessage {
  return {
    id: `${roomId}-${seq}`,
    roomId,
    seq,
    senderId: 'user-1',
    body: `message ${seq} of ${roomId}`,
    clientMsgId: `client-${roomId}-${seq}`,
    createdAt: new Date(Date.UTC(2025, 0, 1, 0, 0, seq % 60)).toISOString(),
    fence: 1,
    ...overrides,
  };
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it holds; fails with `what` once `timeoutMs` passed. */
export async function waitUntil(
  what: string,
  check: () => boolean,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    }
    await delay(5);
  }
}

/**
 * Time as the adapter under test sees it. `manual` is a frozen clock that only `advance` moves
 * (embedded adapters take `now`); `real` sleeps, for servers whose clock cannot be injected.
 */
export interface ContractClock {
  now: () => number;
  advance(ms: number): Promise<void>;
}

export type ClockKind = 'manual' | 'real';

export function createContractClock(kind: ClockKind): ContractClock {
  if (kind === 'real') {
    return { now: Date.now, advance: delay };
  }
  let current = Date.UTC(2025, 0, 1);
  return {
    now: () => current,
    advance: async (ms) => {
      current += ms;
    },
  };
}

/** Runs `work` and expects it to reject with an AppError-like `code`. */
export async function rejectsWithCode(work: () => Promise<unknown>, code: string): Promise<void> {
  let failure: unknown;
  try {
    await work();
  } catch (error) {
    failure = error;
  }
  if (typeof failure !== 'object' || failure === null || !('code' in failure)) {
    throw new Error(`expected a rejection with code ${code}, got ${String(failure)}`);
  }
  if (failure.code !== code) {
    throw new Error(`expected code ${code}, got ${String(failure.code)}`);
  }
}
