import type { ChatMessage, NumberedMessage } from '../ports/messages.ts';

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
 * A logged or stored record: a ChatMessage with the fence of the batch that numbered it. Records
 * written before fences existed have none and read as fence 0, below every fence handed out.
 */
export function decodeNumberedMessage(value: unknown): NumberedMessage {
  const message = decodeChatMessage(value) as ChatMessage & { fence?: unknown };
  const fence = message.fence ?? 0;
  if (typeof fence !== 'number' || !Number.isSafeInteger(fence) || fence < 0) {
    throw new TypeError(`message.fence must be a non-negative safe integer, got ${String(fence)}`);
  }
  return { ...message, fence };
}

/** The message without its fence, as reads return it. */
export function withoutFence(message: NumberedMessage): ChatMessage {
  const { id, roomId, seq, senderId, body, clientMsgId, createdAt } = message;
  return { id, roomId, seq, senderId, body, clientMsgId, createdAt };
}

/**
 * Refuses, before anything is written, a message that decodeChatMessage would refuse when the
 * file is replayed: one bad record would otherwise make the whole file fail to open.
 */
export function assertNumberedMessages(messages: readonly NumberedMessage[]): void {
  for (const message of messages) {
    decodeNumberedMessage(message);
  }
}
