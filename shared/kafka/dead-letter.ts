import type { KafkaMessage } from 'kafkajs';
import { decodeNumberedMessage } from '../embedded/chat-message.ts';
import type { NumberedMessage } from '../ports/messages.ts';
import type { OutgoingRecord } from './sender.ts';
import { errorFields } from './support.ts';
import type { KafkaLogger } from './support.ts';

/** A message moved to the dead-letter topic instead of being handled. */
export interface DeadLetter {
  group: string;
  topic: string;
  partition: number;
  offset: string;
  /** Absent when the record was not a readable NumberedMessage. */
  roomId: string | undefined;
  seq: number | undefined;
  /** Failed handler calls for this message alone (0: it could not even be decoded). */
  attempts: number;
  error: unknown;
}

/** A record as fetched: the NumberedMessage it holds, or why it holds none. */
export interface Entry {
  offset: string;
  raw: KafkaMessage;
  message: NumberedMessage | undefined;
  decodeError: unknown;
}

export function decodeEntry(raw: KafkaMessage): Entry {
  try {
    const message = decodeNumberedMessage(JSON.parse(raw.value?.toString('utf8') ?? 'null'));
    return { offset: raw.offset, raw, message, decodeError: undefined };
  } catch (error) {
    return { offset: raw.offset, raw, message: undefined, decodeError: error };
  }
}

export function describeDeadLetter(
  entry: Entry,
  where: { group: string; topic: string; partition: number },
  attempts: number,
  error: unknown,
): DeadLetter {
  return {
    ...where,
    offset: entry.offset,
    roomId: entry.message?.roomId,
    seq: entry.message?.seq,
    attempts,
    error,
  };
}

/**
 * The original key and value, unchanged, so the record can be replayed into the log as it was;
 * where it came from and why it failed ride in headers.
 */
export function deadLetterRecord(
  letter: DeadLetter,
  entry: Entry,
  dlqTopic: string,
): OutgoingRecord {
  const { error } = letter;
  return {
    topic: dlqTopic,
    key: entry.raw.key,
    value: entry.raw.value ?? '',
    headers: {
      'atlas-source-topic': letter.topic,
      'atlas-source-partition': String(letter.partition),
      'atlas-source-offset': letter.offset,
      'atlas-group': letter.group,
      'atlas-attempts': String(letter.attempts),
      'atlas-error-name': error instanceof Error ? error.name : typeof error,
      'atlas-error': (error instanceof Error ? error.message : String(error)).slice(0, 1000),
      'atlas-failed-at': new Date().toISOString(),
    },
  };
}

/** The log line for a dead-lettered message (the counter and callback sit beside it). */
export function logDeadLetter(logger: KafkaLogger, letter: DeadLetter, dlqTopic: string): void {
  logger.error(
    {
      group: letter.group,
      topic: letter.topic,
      partition: letter.partition,
      offset: letter.offset,
      room_id: letter.roomId,
      seq: letter.seq,
      attempts: letter.attempts,
      dlq_topic: dlqTopic,
      ...errorFields(letter.error),
    },
    'message dead-lettered',
  );
}
