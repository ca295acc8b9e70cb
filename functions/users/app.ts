import type { Hono } from 'hono';
import * as v from 'valibot';
import { createApiApp, requireAuth, type ApiEnv } from '../../shared/http/app.ts';
import { readJson, readParam, readQuery } from '../../shared/http/validate.ts';
import { IdSchema } from '../../shared/schemas.ts';
import type { Services } from '../../shared/services.ts';
import {
  DEFAULT_SEARCH_LIMIT,
  MAX_SEARCH_LIMIT,
  ProfilePatchSchema,
  UsernamePrefixSchema,
} from '../../shared/social/schemas.ts';

/** Query strings carry text: a limit is 1-2 decimal digits, then a number in range. */
const SearchQuerySchema = v.object({
  prefix: UsernamePrefixSchema,
  limit: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d{1,2}$/, `must be an integer from 1 to ${MAX_SEARCH_LIMIT}`),
      v.transform(Number),
      v.minValue(1, `must be an integer from 1 to ${MAX_SEARCH_LIMIT}`),
      v.maxValue(MAX_SEARCH_LIMIT, `must be an integer from 1 to ${MAX_SEARCH_LIMIT}`),
    ),
  ),
});

const FriendRequestSchema = v.object({ userId: IdSchema });

/**
 * Profiles, search, friends and blocks (the `/api/me` and `/api/users` rows of docs/protocol.md).
 * Every route needs an access token; every input is validated here, before the Social service.
 * Only web-standard APIs are used, so the app runs on edge runtimes as well as on Node.
 */
export function createUsersApp(services: Services): Hono<ApiEnv> {
  const { social } = services;
  const app = createApiApp(services.logger, services.metrics);
  const authenticated = requireAuth(services.authenticate, services.platform.limiter);
  // In Hono, `/x/*` also matches `/x` itself.
  app.use('/api/me/*', authenticated);
  app.use('/api/users/*', authenticated);

  app.get('/api/me', async function getMe(c) {
    return c.json({ user: await social.me(c.var.auth.userId) });
  });

  app.patch('/api/me', async function patchMe(c) {
    const patch = await readJson(c, ProfilePatchSchema);
    return c.json({ user: await social.updateMe(c.var.auth.userId, patch) });
  });

  app.get('/api/users', async function searchUsers(c) {
    const query = readQuery(c, SearchQuerySchema);
    const limit = query.limit ?? DEFAULT_SEARCH_LIMIT;
    return c.json({ users: await social.search(c.var.auth.userId, query.prefix, limit) });
  });

  app.get('/api/users/:id', async function getUser(c) {
    const userId = readParam(c, 'id', IdSchema);
    return c.json({ user: await social.user(c.var.auth.userId, userId) });
  });

  app.get('/api/me/friends', async function listFriends(c) {
    return c.json({ friends: await social.friends(c.var.auth.userId) });
  });

  app.get('/api/me/friend-requests', async function listFriendRequests(c) {
    return c.json(await social.friendRequests(c.var.auth.userId));
  });

  app.post('/api/me/friend-requests', async function requestFriend(c) {
    const { userId } = await readJson(c, FriendRequestSchema);
    const status = await social.requestFriend(c.var.auth.userId, userId);
    // 201 when a request now exists; 200 when their earlier request made you friends at once.
    return c.json({ status }, status === 'pending' ? 201 : 200);
  });

  app.post('/api/me/friend-requests/:userId/accept', async function acceptFriend(c) {
    const requesterId = readParam(c, 'userId', IdSchema);
    await social.acceptFriend(c.var.auth.userId, requesterId);
    return c.json({ status: 'friends' });
  });

  app.post('/api/me/friend-requests/:userId/decline', async function declineFriend(c) {
    const requesterId = readParam(c, 'userId', IdSchema);
    await social.declineFriend(c.var.auth.userId, requesterId);
    return c.json({ ok: true });
  });

  app.delete('/api/me/friend-requests/:userId', async function cancelFriendRequest(c) {
    const targetId = readParam(c, 'userId', IdSchema);
    await social.cancelFriendRequest(c.var.auth.userId, targetId);
    return c.json({ ok: true });
  });

  app.delete('/api/me/friends/:userId', async function removeFriend(c) {
    const friendId = readParam(c, 'userId', IdSchema);
    await social.removeFriend(c.var.auth.userId, friendId);
    return c.json({ ok: true });
  });

  app.get('/api/me/blocks', async function listBlocks(c) {
    return c.json({ users: await social.blocked(c.var.auth.userId) });
  });

  app.put('/api/me/blocks/:userId', async function blockUser(c) {
    const targetId = readParam(c, 'userId', IdSchema);
    await social.block(c.var.auth.userId, targetId);
    return c.json({ ok: true });
  });

  app.delete('/api/me/blocks/:userId', async function unblockUser(c) {
    const targetId = readParam(c, 'userId', IdSchema);
    await social.unblock(c.var.auth.userId, targetId);
    return c.json({ ok: true });
  });

  app.get('/api/me/contacts', async function listContacts(c) {
    return c.json({ contacts: await social.contacts(c.var.auth.userId) });
  });

  return app;
}
