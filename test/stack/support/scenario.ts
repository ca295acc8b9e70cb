import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../shared/config.ts';
import { migrate } from '../../../shared/db/migrate.ts';
import { createMemoryCache } from '../../../shared/embedded/cache.ts';
import { openFileMessageLog } from '../../../shared/embedded/message-log.ts';
import { openFileMessageStore } from '../../../shared/embedded/message-store.ts';
import { createMemoryPresence } from '../../../shared/embedded/presence.ts';
import { createMemoryPubSub } from '../../../shared/embedded/pubsub.ts';
import { createMemoryRateLimiter } from '../../../shared/embedded/rate-limiter.ts';
import { isAppError } from '../../../shared/errors.ts';
import { createLogger } from '../../../shared/log.ts';
import type { Platform, Sql } from '../../../shared/ports/index.ts';
import { createServices, type Services } from '../../../shared/services.ts';

/**
 * Domain services whose relational store is `sql` (migrated here) and everything else embedded,
 * in a temporary directory: the way openEmbeddedPlatform builds a platform, with the SQL swapped.
 */
export async function openServicesOver(
  sql: Sql,
): Promise<{ services: Services; close(): Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'atlas-stack-'));
  const config = loadConfig({ ATLAS_DATA_DIR: dataDir, LOG_LEVEL: 'silent', PORT: '0' });
  await migrate(sql);
  const messageLog = await openFileMessageLog({ dir: join(dataDir, 'message-log') });
  const messageStore = await openFileMessageStore({ dir: join(dataDir, 'message-store') });
  const pubsub = createMemoryPubSub();
  const presence = createMemoryPresence({ ttlMs: config.presenceTtlMs });
  const cache = createMemoryCache({});
  const limiter = createMemoryRateLimiter({});
  const platform: Platform = {
    sql,
    messageLog,
    messageStore,
    pubsub,
    presence,
    cache,
    limiter,
    // The scenario sends nothing that could leave the log unsettled: no persister to wait for.
    async close() {
      await pubsub.close();
      await presence.close();
      await messageLog.close();
      await messageStore.close();
      await cache.close();
      await limiter.close();
      await sql.close();
    },
  };
  const services = await createServices(config, platform, createLogger('silent', 'stack-test'));
  return {
    services,
    async close() {
      await platform.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** What a call gave: its value, or the code of the AppError it failed with. */
async function outcome(call: () => Promise<unknown>): Promise<unknown> {
  try {
    return await call();
  } catch (error) {
    if (isAppError(error)) {
      return { error: error.code };
    }
    throw error;
  }
}

/**
 * Register, log in, befriend, block, make rooms, send and mark read: the users and rooms
 * services end to end. Returns a transcript in which ids are replaced by the names of what they
 * identify and times by a placeholder, so runs on different stores can be compared whole.
 */
export async function runUsersAndRoomsScenario(services: Services): Promise<unknown[]> {
  const { accounts, sessions, social, rooms, messaging } = services;
  const transcript: unknown[] = [];
  const names = new Map<string, string>();
  const step = async (label: string, call: () => Promise<unknown>) => {
    transcript.push([label, await outcome(call)]);
  };

  const password = 'correct horse battery';
  const register = async (username: string) => {
    const id = await accounts.register({ username, password, displayName: username.toUpperCase() });
    names.set(id, username);
    return id;
  };
  const alice = await register('alice');
  const bob = await register('bob');
  const carol = await register('carol');
  const dave = await register('dave_x');
  await step('register taken', () => accounts.register({ username: 'ALICE', password }));
  await step('login', () =>
    accounts.login({ username: 'Alice', password, clientAddress: '10.0.0.1' }),
  );
  await step('login wrong', () =>
    accounts.login({ username: 'alice', password: 'wrong password!!', clientAddress: '10.0.0.1' }),
  );
  await step('login unknown', () =>
    accounts.login({ username: 'nobody', password, clientAddress: '10.0.0.1' }),
  );

  const first = await sessions.start(alice);
  const rotated = await sessions.rotate(first.refreshToken);
  transcript.push(['rotate same session', rotated.sessionId === first.sessionId]);
  await step('reuse old refresh token', () => sessions.rotate(first.refreshToken));
  await step('session active after reuse', () => sessions.isActive(first.sessionId));
  await step('rotate after revoke', () => sessions.rotate(rotated.refreshToken));

  await step('alice asks bob', () => social.requestFriend(alice, bob));
  await step('bob requests', () => social.friendRequests(bob));
  await step('bob accepts', () => social.acceptFriend(bob, alice));
  await step('alice asks carol', () => social.requestFriend(alice, carol));
  await step('carol asks alice back', () => social.requestFriend(carol, alice));
  await step('alice asks bob again', () => social.requestFriend(alice, bob));
  await step('dave asks bob', () => social.requestFriend(dave, bob));
  await step('bob declines dave', () => social.declineFriend(bob, dave));
  await step('alice friends', () => social.friends(alice));
  await step('search a', () => social.search(bob, 'a', 10));
  await step('search d_ literally', () => social.search(bob, 'dave_', 10));
  await step('search no wildcard', () => social.search(bob, 'd%', 10));
  await step('alice profile', () =>
    social.updateMe(alice, { statusText: 'hello', showLastSeen: false }),
  );
  await step('bob sees alice', () => social.user(bob, alice));
  await step('carol blocks bob', () => social.block(carol, bob));
  await step('carol blocked', () => social.blocked(carol));
  await step('bob sees carol', () => social.user(bob, carol));
  await step('bob asks carol', () => social.requestFriend(bob, carol));
  await step('alice contacts', () => social.contacts(alice));
  await step('bob last seen', () => social.recordLastSeen(bob, new Date(Date.UTC(2025, 0, 2))));

  // carol blocked bob above, so a group holding both is refused; that refusal is a step too.
  await step('group with a blocked pair', () => rooms.createGroup(alice, 'Team', [bob, carol]));
  const group = await rooms.createGroup(alice, 'Team', [bob]);
  names.set(group.id, 'group');
  transcript.push(['group', group]);
  const dm = await rooms.openDm(alice, bob);
  names.set(dm.id, 'dm');
  transcript.push(['dm', dm]);
  await step('dm again', () => rooms.openDm(bob, alice));
  await step('dm blocked', () => rooms.openDm(bob, carol));
  await step('rename', () => rooms.rename(group.id, bob, 'Team 2'));
  await step('rename dm', () => rooms.rename(dm.id, alice, 'nope'));
  await step('add dave', () => rooms.addMembers(group.id, alice, [dave, bob]));
  await step('dave removes bob', () => rooms.removeMember(group.id, dave, bob));
  for (let i = 1; i <= 3; i++) {
    await messaging.send(alice, group.id, `group-${i}`, `hello ${i}`);
  }
  await messaging.send(bob, dm.id, 'dm-1', 'hi alice');
  await waitForLatest(services, group.id, 3);
  await waitForLatest(services, dm.id, 1);
  await step('mark read 2', () => rooms.markRead(group.id, bob, 2));
  await step('mark read back', () => rooms.markRead(group.id, bob, 1));
  await step('mark read past end', () => rooms.markRead(group.id, bob, 99));
  await step('mark read not member', () => rooms.markRead(dm.id, carol, 1));
  await step('bob rooms', () => rooms.list(bob));
  await step('owner leaves', () => rooms.removeMember(group.id, alice, alice));
  await step('group after owner left', () => rooms.view(group.id, bob));
  await step('bob dm partners', () => rooms.dmPartners(bob));
  await step('alice audience', () => social.presenceAudience(alice));
  await step('history', () => messaging.history(bob, group.id, { limit: 2 }));

  return normalize(transcript, names) as unknown[];
}

async function waitForLatest(services: Services, roomId: string, seq: number): Promise<void> {
  const store = services.platform.messageStore;
  const deadline = Date.now() + 5_000;
  while (((await store.latest([roomId])).get(roomId)?.seq ?? 0) < seq) {
    if (Date.now() > deadline) {
      throw new Error(`room ${roomId} never reached seq ${seq}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

function normalize(value: unknown, names: ReadonlyMap<string, string>): unknown {
  if (typeof value === 'string') {
    if (UUID.test(value)) {
      return names.get(value) ?? '<id>';
    }
    return ISO_TIME.test(value) ? '<time>' : value;
  }
  if (Array.isArray(value)) {
    return value.map((item) => normalize(item, names));
  }
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, normalize(item, names)]),
    );
  }
  return value;
}
