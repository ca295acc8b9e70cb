import type { ChatMessage } from '../ports/messages.ts';

/**
 * Checks that a value read back from disk has every ChatMessage field with the right type.
 * Extra fields are kept, so a record written by a newer version round-trips unchanged.
 */
export function decodeChatMessage(value: unknown): ChatMessage {
  if (typeof value !== 'object' || value === null) {
    throw new TypeError('message is not an object');
  }
  const record = value as Record<string, unknown>;
  for (const field of ['id', 'roomId', 'senderId', 'body', 'clientMsgId', 'createdAt']) {
    if (typeof record[field] !== 'string') {
      throw new TypeError(`message.${field} must be a string`);
    }
  }
  if (record.roomId === '') {
    throw new TypeError('message.roomId must not be empty');
  }
  const { seq } = record;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) {
    throw new TypeError(`message.seq must be a positive safe integer, got ${String(seq)}`);
  }
  return value as ChatMessage;
}

/**
 * Refuses, before anything is written, a message that decodeChatMessage would refuse when the
 * file is replayed: one bad record would otherwise make the whole file fail to open.
 */
export function assertChatMessages(messages: readonly ChatMessage[]): void {
  for (const message of messages) {
    decodeChatMessage(message);
  }
}
