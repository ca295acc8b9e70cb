import * as v from 'valibot';
import { AppError } from '../shared/errors.ts';
import { ClientMsgIdSchema, IdSchema, MessageBodySchema, SeqSchema } from '../shared/schemas.ts';

const Ref = v.optional(v.pipe(v.string(), v.maxLength(64)));

const SendFrame = v.object({
  type: v.literal('send'),
  roomId: IdSchema,
  clientMsgId: ClientMsgIdSchema,
  body: MessageBodySchema,
  ref: Ref,
});

const MAX_SYNC_ROOMS = 1000;

/**
 * Keys that valibot's `record` leaves out of its output without an issue (a guard against
 * prototype pollution). None is a room id, so a cursor under one is refused like any other key
 * that is not, instead of vanishing from the sync.
 */
const KEYS_RECORD_DROPS = ['__proto__', 'constructor', 'prototype'];

const CursorKeys = v.custom<object>(
  (input) =>
    typeof input === 'object' &&
    input !== null &&
    !KEYS_RECORD_DROPS.some((key) => Object.hasOwn(input, key)),
  'cursors must map room ids to seqs',
);

const SyncFrame = v.object({
  type: v.literal('sync'),
  cursors: v.pipe(
    CursorKeys,
    v.record(IdSchema, SeqSchema),
    v.check(
      (cursors) => Object.keys(cursors).length <= MAX_SYNC_ROOMS,
      `at most ${MAX_SYNC_ROOMS} rooms`,
    ),
  ),
  limit: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(500)), 100),
  ref: Ref,
});

const TypingFrame = v.object({ type: v.literal('typing'), roomId: IdSchema, ref: Ref });
const ReadFrame = v.object({ type: v.literal('read'), roomId: IdSchema, seq: SeqSchema, ref: Ref });
const AuthFrame = v.object({
  type: v.literal('auth'),
  accessToken: v.pipe(v.string(), v.maxLength(4096)),
  ref: Ref,
});
const PingFrame = v.object({ type: v.literal('ping'), ref: Ref });

const schemas = {
  send: SendFrame,
  sync: SyncFrame,
  typing: TypingFrame,
  read: ReadFrame,
  auth: AuthFrame,
  ping: PingFrame,
} as const;

export type ClientFrame = {
  [K in keyof typeof schemas]: v.InferOutput<(typeof schemas)[K]>;
}[keyof typeof schemas];

/** What a frame refers to when the server answers it with an error. */
export function refOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) {
    return undefined;
  }
  const record = value as Record<string, unknown>;
  const ref = record['ref'] ?? record['clientMsgId'];
  return typeof ref === 'string' && ref.length <= 64 ? ref : undefined;
}

/**
 * Parses one text frame. Failures carry the code the client gets: `invalid_json`,
 * `unknown_frame` (no or unknown `type`) or `validation_failed`, plus the frame's ref if any.
 */
export function parseFrame(text: string): ClientFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AppError('invalid_json', 'frames must be JSON objects');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AppError('validation_failed', 'frames must be JSON objects');
  }
  const type = (value as Record<string, unknown>)['type'];
  if (typeof type !== 'string' || !Object.hasOwn(schemas, type)) {
    throw new AppError('unknown_frame', 'unknown frame type');
  }
  const result = v.safeParse(schemas[type as keyof typeof schemas], value);
  if (!result.success) {
    const issue = result.issues[0];
    const path = issue ? v.getDotPath(issue) : null;
    throw new AppError('validation_failed', `${path ?? 'frame'}: ${issue?.message ?? 'invalid'}`);
  }
  return result.output;
}
