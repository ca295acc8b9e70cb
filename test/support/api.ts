import assert from 'node:assert/strict';
import type { ErrorCode } from '../../shared/errors.ts';

/** An HTTP answer as the API tests read it. */
export interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** Asserts the error contract: the status, the stable code, and a human-readable message. */
export function assertError(
  reply: Pick<Reply, 'status' | 'body'>,
  status: number,
  code: ErrorCode,
): void {
  const error = reply.body.error as { code?: unknown; message?: unknown } | undefined;
  assert.equal(
    error?.code,
    code,
    `expected ${code}, got ${reply.status} ${JSON.stringify(reply.body)}`,
  );
  assert.equal(reply.status, status);
  assert.equal(typeof error?.message, 'string');
}
