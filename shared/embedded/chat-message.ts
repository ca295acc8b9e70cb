import type { ChatMessage } from '../ports/messages.ts';

/**
 * Checks that a value read back from disk has every ChatMessage field with the right type.
 * Extra fields are kept, so a record written by a newer version round-trips unchanged.
 */
export function decodeChatMessage(value: unknown): ChatMessage {
  if (typeof value !== 'object' || value === null) {
    throw new TypeError('stored record is not an object');
  }
  const record = value as Record<string, unknown>;
  for (const field of ['id', 'roomId', 'senderId', 'body', 'clientMsgId', 'createdAt']) {
    if (typeof record[field] !== 'string') {
      throw new TypeError(`stored message has no string ${field}`);
    }
  }
  if (!isSeq(record.seq)) {
    throw new TypeError('stored message has no valid seq');
  }
  return value as ChatMessage;
}

/** Rejects messages no store could address: a room id and a positive integer seq are the key. */
export function assertStorable(message: ChatMessage): void {
  if (typeof message.roomId !== 'string' || message.roomId === '') {
    throw new TypeError('message.roomId must be a non-empty string');
  }
  if (!isSeq(message.seq)) {
    throw new TypeError(`message.seq must be a positive safe integer, got ${String(message.seq)}`);
  }
  if (typeof message.clientMsgId !== 'string') {
    throw new TypeError('message.clientMsgId must be a string');
  }
}

function isSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}
