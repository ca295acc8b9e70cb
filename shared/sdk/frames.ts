import type { ClientFrame, ServerFrame, ServerFrameType } from './types.ts';

const SERVER_FRAME_TYPES: ReadonlySet<string> = new Set<ServerFrameType>([
  'hello',
  'message',
  'ack',
  'synced',
  'typing',
  'read',
  'presence',
  'room',
  'room_removed',
  'contacts_changed',
  'authed',
  'pong',
  'error',
]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isMessage(value: unknown): boolean {
  return (
    isRecord(value) &&
    typeof value.roomId === 'string' &&
    typeof value.seq === 'number' &&
    typeof value.clientMsgId === 'string'
  );
}

/**
 * Reads one text frame from the server. Unknown types and frames whose message lacks the fields
 * the timeline orders by are dropped (undefined), so a newer server cannot break an older client.
 */
export function parseServerFrame(data: unknown): ServerFrame | undefined {
  if (typeof data !== 'string') {
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (!isRecord(value) || typeof value.type !== 'string' || !SERVER_FRAME_TYPES.has(value.type)) {
    return undefined;
  }
  if ((value.type === 'message' || value.type === 'ack') && !isMessage(value.message)) {
    return undefined;
  }
  return value as unknown as ServerFrame;
}

export function encodeClientFrame(frame: ClientFrame): string {
  return JSON.stringify(frame);
}
