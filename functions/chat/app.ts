import type { Context, Hono } from 'hono';
import * as v from 'valibot';
import { AppError } from '../../shared/errors.ts';
import { createApiApp, requireAuth, type ApiEnv } from '../../shared/http/app.ts';
import { readJson, readParam, readQuery } from '../../shared/http/validate.ts';
import { MAX_GROUP_MEMBERS } from '../../shared/rooms/rooms.ts';
import {
  ClientMsgIdSchema,
  IdSchema,
  MessageBodySchema,
  RoomNameSchema,
  SeqSchema,
} from '../../shared/schemas.ts';
import type { Services } from '../../shared/services.ts';

const OTHER_MEMBERS_MESSAGE = `a group has at most ${MAX_GROUP_MEMBERS} members, its creator included`;
const CreateRoomBody = v.object({
  name: RoomNameSchema,
  memberIds: v.pipe(v.array(IdSchema), v.maxLength(MAX_GROUP_MEMBERS - 1, OTHER_MEMBERS_MESSAGE)),
});
const OpenDmBody = v.object({ userId: IdSchema });
const RenameBody = v.object({ name: RoomNameSchema });
const AddMembersBody = v.object({
  userIds: v.pipe(
    v.array(IdSchema),
    v.minLength(1),
    v.maxLength(MAX_GROUP_MEMBERS - 1, OTHER_MEMBERS_MESSAGE),
  ),
});
const SendBody = v.object({ clientMsgId: ClientMsgIdSchema, body: MessageBodySchema });
const ReadBody = v.object({ seq: SeqSchema });

const seqParam = v.optional(
  v.pipe(v.string(), v.regex(/^\d{1,15}$/, 'must be a whole number'), v.transform(Number)),
);
const HistoryQuery = v.object({
  after: seqParam,
  before: seqParam,
  limit: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d{1,3}$/, 'must be a whole number'),
      v.transform(Number),
      v.minValue(1),
      v.maxValue(200),
    ),
    '50',
  ),
});

/** Sends per user per 10 seconds over REST (the socket has its own per-connection budget). */
const REST_SENDS_PER_WINDOW = 100;

/** Rooms, DMs, history, sending and read markers. */
export function createChatApp(services: Services): Hono<ApiEnv> {
  const { rooms, messaging, platform, social } = services;
  const app = createApiApp(services.logger, services.metrics);
  // In Hono '/api/rooms/*' also matches '/api/rooms' itself.
  const authenticated = requireAuth(services.authenticate, platform.limiter);
  app.use('/api/rooms/*', authenticated);
  app.use('/api/dms', authenticated);

  const roomId = (c: Context<ApiEnv>) => readParam(c, 'id', IdSchema);

  app.get('/api/rooms', async (c) => c.json({ rooms: await rooms.list(c.var.auth.userId) }));

  app.post('/api/rooms', async (c) => {
    const body = await readJson(c, CreateRoomBody);
    return c.json(
      { room: await rooms.createGroup(c.var.auth.userId, body.name, body.memberIds) },
      201,
    );
  });

  app.post('/api/dms', async (c) => {
    const { userId } = await readJson(c, OpenDmBody);
    return c.json({ room: await rooms.openDm(c.var.auth.userId, userId) });
  });

  app.get('/api/rooms/:id', async (c) => {
    const viewerId = c.var.auth.userId;
    const room = await rooms.view(roomId(c), viewerId);
    // docs/protocol.md: the detail carries `members`, the members' public profiles as this viewer
    // may see them (clients seed names and presence from it).
    const [profiles, markers] = await Promise.all([
      Promise.all(room.memberIds.map((id) => social.user(viewerId, id))),
      rooms.readMarkers(room.id, viewerId),
    ]);
    const members = profiles.map((profile) => ({
      ...profile,
      readSeq: Math.min(markers.get(profile.id) ?? 0, room.lastSeq),
    }));
    return c.json({ room: { ...room, members } });
  });

  app.patch('/api/rooms/:id', async (c) => {
    const id = roomId(c);
    const { name } = await readJson(c, RenameBody);
    return c.json({ room: await rooms.rename(id, c.var.auth.userId, name) });
  });

  app.post('/api/rooms/:id/members', async (c) => {
    const id = roomId(c);
    const { userIds } = await readJson(c, AddMembersBody);
    return c.json({ room: await rooms.addMembers(id, c.var.auth.userId, userIds) });
  });

  app.delete('/api/rooms/:id/members/:userId', async (c) => {
    const id = roomId(c);
    const userId = readParam(c, 'userId', IdSchema);
    await rooms.removeMember(id, c.var.auth.userId, userId);
    return c.json({ ok: true });
  });

  app.get('/api/rooms/:id/messages', async (c) => {
    const id = roomId(c);
    const query = readQuery(c, HistoryQuery);
    return c.json(await messaging.history(c.var.auth.userId, id, query));
  });

  app.post('/api/rooms/:id/messages', async (c) => {
    const id = roomId(c);
    const quota = await platform.limiter.hit(
      `rest-send:${c.var.auth.userId}`,
      REST_SENDS_PER_WINDOW,
      10_000,
    );
    if (!quota.allowed) {
      throw new AppError('rate_limited', 'sending too fast', quota.retryAfterMs / 1000);
    }
    const body = await readJson(c, SendBody);
    const result = await messaging.send(c.var.auth.userId, id, body.clientMsgId, body.body);
    return c.json(result, result.duplicate ? 200 : 201);
  });

  app.post('/api/rooms/:id/read', async (c) => {
    const id = roomId(c);
    const { seq } = await readJson(c, ReadBody);
    return c.json({ readSeq: await rooms.markRead(id, c.var.auth.userId, seq) });
  });

  return app;
}
