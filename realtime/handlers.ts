import { AppError, isAppError } from '../shared/errors.ts';
import type { Services } from '../shared/services.ts';
import type { Connection } from './connection.ts';
import { parseFrame, refOf, type ClientFrame } from './frames.ts';

/** Handles one text frame. Never throws: every failure becomes an `error` frame. */
export async function handleFrame(
  services: Services,
  connection: Connection,
  text: string,
): Promise<void> {
  let frame: ClientFrame;
  try {
    frame = parseFrame(text);
  } catch (error) {
    const ref = safeRef(text);
    reply(services, connection, error, ref);
    return;
  }
  try {
    await dispatch(services, connection, frame);
  } catch (error) {
    reply(
      services,
      connection,
      error,
      frame.type === 'send' ? (frame.ref ?? frame.clientMsgId) : frame.ref,
    );
  }
}

function safeRef(text: string): string | undefined {
  try {
    return refOf(JSON.parse(text));
  } catch {
    return undefined;
  }
}

function reply(
  services: Services,
  connection: Connection,
  error: unknown,
  ref: string | undefined,
) {
  if (isAppError(error)) {
    services.metrics.framesRefused.inc({ code: error.code });
    if (error.code === 'rate_limited') {
      services.metrics.rateLimited.inc({ scope: 'ws' });
    }
    connection.sendError(error.code, error.message, ref);
    return;
  }
  services.logger.error({ err: error, user_id: connection.userId }, 'frame handling failed');
  connection.sendError('internal', 'internal error', ref);
}

async function dispatch(
  services: Services,
  connection: Connection,
  frame: ClientFrame,
): Promise<void> {
  const { messaging, rooms } = services;
  switch (frame.type) {
    case 'send': {
      if (!connection.sends.take()) {
        throw new AppError('rate_limited', 'sending too fast', 1);
      }
      const { message, duplicate } = await messaging.send(
        connection.userId,
        frame.roomId,
        frame.clientMsgId,
        frame.body,
      );
      connection.send({
        type: 'ack',
        roomId: message.roomId,
        clientMsgId: message.clientMsgId,
        seq: message.seq,
        duplicate,
        message,
        ref: frame.ref ?? null,
      });
      return;
    }
    case 'sync':
      await sync(connection, frame.cursors, frame.limit, frame.ref);
      return;
    case 'typing':
      await messaging.typing(connection.userId, frame.roomId);
      return;
    case 'read':
      await rooms.markRead(frame.roomId, connection.userId, frame.seq);
      return;
    case 'auth': {
      const claims = await services.authenticate(frame.accessToken);
      if (claims.userId !== connection.userId) {
        throw new AppError('forbidden', 'the token belongs to another user');
      }
      connection.sessionId = claims.sessionId;
      connection.expireAt(claims.expiresAt);
      connection.send({
        type: 'authed',
        expiresAt: new Date(claims.expiresAt * 1000).toISOString(),
        ref: frame.ref ?? null,
      });
      return;
    }
    case 'ping':
      connection.send({ type: 'pong', ref: frame.ref ?? null });
      return;
  }
}

/**
 * Replays each named room from the client's cursor. Rooms the client did not name go live from
 * where they are; rooms it is not a member of are listed as `denied`.
 */
async function sync(
  connection: Connection,
  cursors: Record<string, number>,
  limit: number,
  ref: string | undefined,
): Promise<void> {
  const named = new Set(Object.keys(cursors));
  for (const [roomId, stream] of connection.rooms) {
    if (!named.has(roomId)) {
      stream.release();
    }
  }
  const result: Record<string, { lastSeq: number; complete: boolean }> = {};
  const denied: string[] = [];
  await Promise.all(
    Object.entries(cursors).map(async ([roomId, cursor]) => {
      const stream = connection.rooms.get(roomId);
      if (!stream) {
        denied.push(roomId);
        return;
      }
      result[roomId] = await stream.sync(cursor, limit);
    }),
  );
  connection.send({ type: 'synced', rooms: result, denied, ref: ref ?? null });
}
