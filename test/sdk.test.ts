import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  AtlasApiError,
  AtlasClient,
  AtlasHttp,
  backoffDelayMs,
  expiryToMs,
  Outbox,
  parseServerFrame,
  RoomStore,
  renewDelayMs,
  RoomTimeline,
  SyncSession,
  tokenExpiryMs,
  type ChatMessage,
  type ClientFrame,
  type Room,
  type ServerFrame,
  type Session,
  type SharedSessionStore,
  type WebSocketLike,
} from '../shared/sdk/index.ts';

const ROOM = 'room-1';
const ALICE = 'user-alice';
const BOB = 'user-bob';

function msg(seq: number, overrides: Partial<ChatMessage> = {}): ChatMessage {
  return {
    id: `m${seq}`,
    roomId: ROOM,
    seq,
    senderId: BOB,
    body: `message ${seq}`,
    clientMsgId: `c${seq}`,
    createdAt: new Date(Date.UTC(2030, 0, 1, 0, 0, seq)).toISOString(),
    ...overrides,
  };
}

const seqs = (t: RoomTimeline) => t.entries().map((e) => e.seq);

describe('RoomTimeline', () => {
  it('reconciles an echo that arrives before the ack into one entry', () => {
    const t = new RoomTimeline(ROOM);
    t.addPending({ clientMsgId: 'mine', senderId: ALICE, body: 'hi' });
    assert.deepEqual(
      t.entries().map((e) => [e.status, e.seq]),
      [['pending', null]],
    );
    const stored = msg(1, { clientMsgId: 'mine', senderId: ALICE, body: 'hi' });
    assert.equal(t.insert([stored]), 1); // the echo
    assert.equal(t.insert([stored]), 0); // the ack, later
    const entries = t.entries();
    assert.equal(entries.length, 1);
    assert.equal(entries[0]?.status, 'sent');
    assert.equal(entries[0]?.seq, 1);
    assert.equal(entries[0]?.key, 'mine');
  });

  it('reconciles an ack that arrives before the echo into one entry', () => {
    const t = new RoomTimeline(ROOM);
    t.addPending({ clientMsgId: 'mine', senderId: ALICE, body: 'hi' });
    const stored = msg(1, { clientMsgId: 'mine', senderId: ALICE });
    t.insert([stored]);
    t.insert([{ ...stored }]);
    assert.equal(t.entries().length, 1);
  });

  it('orders out-of-order delivery by seq and drops duplicates', () => {
    const t = new RoomTimeline(ROOM);
    t.insert([msg(3)]);
    assert.equal(t.cursor, 0, 'a gap holds the cursor back');
    t.insert([msg(1), msg(3), msg(1)]);
    assert.equal(t.cursor, 1);
    t.insert([msg(5), msg(2), msg(4), msg(2)]);
    assert.deepEqual(seqs(t), [1, 2, 3, 4, 5]);
    assert.equal(t.cursor, 5);
    assert.equal(t.lastSeq, 5);
    assert.equal(t.oldestSeq, 1);
  });

  it('keeps pending entries after stored ones, in send order', () => {
    const t = new RoomTimeline(ROOM);
    t.addPending({ clientMsgId: 'a', senderId: ALICE, body: 'a' });
    t.addPending({ clientMsgId: 'b', senderId: ALICE, body: 'b' });
    t.insert([msg(1), msg(2, { clientMsgId: 'b', senderId: ALICE })]);
    assert.deepEqual(
      t.entries().map((e) => e.key),
      ['c1', 'b', 'a'],
    );
  });

  it('ignores messages of other rooms', () => {
    const t = new RoomTimeline(ROOM);
    assert.equal(t.insert([msg(1, { roomId: 'other' })]), 0);
    assert.equal(t.size, 0);
  });

  it('marks failed sends and puts them back to pending for a retry', () => {
    const t = new RoomTimeline(ROOM);
    t.addPending({ clientMsgId: 'x', senderId: ALICE, body: 'x' });
    assert.equal(t.markFailed('x', 'not_member'), true);
    assert.equal(t.entries()[0]?.status, 'failed');
    assert.equal(t.entries()[0]?.errorCode, 'not_member');
    assert.equal(t.markPending('x')?.status, 'pending');
    assert.equal(t.entries()[0]?.errorCode, undefined);
  });

  it('starts from a baseline and counts live messages above it', () => {
    const t = new RoomTimeline(ROOM, 10);
    assert.equal(t.cursor, 10);
    t.insert([msg(12)]);
    assert.equal(t.cursor, 10);
    t.insert([msg(11)]);
    assert.equal(t.cursor, 12);
  });

  it('replaces held messages with a newest page that does not touch them', () => {
    const t = new RoomTimeline(ROOM);
    t.insert([msg(1), msg(2)]);
    const page = { messages: [msg(50), msg(51)], hasMore: true };
    t.applyNewestPage(page);
    assert.deepEqual(seqs(t), [50, 51]);
    assert.equal(t.cursor, 51);
    assert.equal(t.hasOlder, true);
    t.applyOlderPage({ messages: [msg(48), msg(49)], hasMore: false });
    assert.deepEqual(seqs(t), [48, 49, 50, 51]);
    assert.equal(t.hasOlder, false);
    assert.equal(t.cursor, 51);
  });

  it('merges a newest page that overlaps live messages', () => {
    const t = new RoomTimeline(ROOM, 3);
    t.insert([msg(4), msg(5)]);
    t.applyNewestPage({ messages: [msg(2), msg(3), msg(4)], hasMore: true });
    assert.deepEqual(seqs(t), [2, 3, 4, 5]);
    assert.equal(t.cursor, 5);
  });
});

describe('Outbox', () => {
  it('keeps unacknowledged sends in order and forgets settled ones', () => {
    const box = new Outbox();
    box.add({ roomId: ROOM, clientMsgId: 'a', body: '1' });
    box.add({ roomId: 'r2', clientMsgId: 'b', body: '2' });
    box.add({ roomId: ROOM, clientMsgId: 'c', body: '3' });
    box.add({ roomId: ROOM, clientMsgId: 'a', body: 'ignored duplicate' });
    assert.deepEqual(
      box.items().map((i) => [i.clientMsgId, i.body]),
      [
        ['a', '1'],
        ['b', '2'],
        ['c', '3'],
      ],
    );
    assert.equal(box.settle('a'), true);
    assert.equal(box.settle('a'), false);
    box.dropRoom('r2');
    assert.deepEqual(
      box.items().map((i) => i.clientMsgId),
      ['c'],
    );
  });
});

describe('Outbox rewind', () => {
  it('writes an item once per connection unless a transient refusal rewinds it', () => {
    const box = new Outbox();
    box.add({ roomId: ROOM, clientMsgId: 'a', body: '1' });
    box.markWritten('a');
    assert.equal(box.get('a')?.written, true);
    box.rewind('a');
    assert.equal(box.get('a')?.written, false);
    box.markWritten('a');
    box.rewind();
    assert.deepEqual(box.get('a'), {
      roomId: ROOM,
      clientMsgId: 'a',
      body: '1',
      attempts: 2,
      written: false,
    });
  });
});

describe('RoomStore', () => {
  it('keeps unread = lastSeq - readSeq, with counters that only move forward', () => {
    const store = new RoomStore(ALICE);
    store.upsert(room({ lastSeq: 5, readSeq: 2, unread: 3 }), true);
    store.noteMessages(ROOM, [msg(6), msg(7)]);
    assert.equal(store.get(ROOM)?.unread, 5);
    assert.equal(store.get(ROOM)?.lastMessage?.seq, 7);
    // A stale list (fetched before the live messages) does not move anything back.
    store.upsert(room({ lastSeq: 5, readSeq: 2, unread: 3 }), true);
    assert.equal(store.get(ROOM)?.lastSeq, 7);
    store.noteRead(ROOM, BOB, 7);
    assert.equal(store.get(ROOM)?.unread, 5, "another member's marker is not ours");
    assert.equal(store.readersOf(ROOM).get(BOB), 7);
    store.noteRead(ROOM, ALICE, 6);
    store.noteRead(ROOM, ALICE, 4);
    assert.equal(store.get(ROOM)?.readSeq, 6);
    assert.equal(store.get(ROOM)?.unread, 1);
  });

  it('counts own messages from another device as read', () => {
    const store = new RoomStore(ALICE);
    store.upsert(room({ lastSeq: 3, readSeq: 1, unread: 2 }), true);
    store.noteMessages(ROOM, [msg(4, { senderId: ALICE })]);
    assert.equal(store.get(ROOM)?.readSeq, 4, 'the own message moves the marker');
    assert.equal(store.get(ROOM)?.unread, 0);
    store.noteMessages(ROOM, [msg(5), msg(6, { senderId: ALICE }), msg(7)]);
    assert.equal(store.get(ROOM)?.readSeq, 6);
    assert.equal(store.get(ROOM)?.unread, 1, 'only what others wrote after it is unread');
    // An older own message (catch-up out of order) never moves the marker back.
    store.noteMessages(ROOM, [msg(2, { senderId: ALICE })]);
    assert.equal(store.get(ROOM)?.readSeq, 6);
  });

  it('starts an empty timeline at the listed lastSeq', () => {
    const store = new RoomStore(ALICE);
    store.upsert(room({ lastSeq: 2 }), true);
    assert.equal(store.timeline(ROOM).cursor, 2);
    store.upsert(room({ lastSeq: 40 }), true);
    assert.equal(store.timeline(ROOM).cursor, 40);
  });

  it('keeps the cursor of a timeline holding live messages, for sync to fill the gap', () => {
    const store = new RoomStore(ALICE);
    store.upsert(room({ lastSeq: 2 }), true);
    store.timeline(ROOM).insert([msg(3)]);
    store.upsert(room({ lastSeq: 40 }), true);
    assert.equal(store.timeline(ROOM).cursor, 3);
    assert.equal(store.get(ROOM)?.lastSeq, 40);
  });

  it("leaves an opened room's timeline alone on a list refresh", () => {
    const store = new RoomStore(ALICE);
    store.upsert(room({ lastSeq: 2 }), true);
    store.timeline(ROOM).applyNewestPage({ messages: [msg(1), msg(2)], hasMore: false });
    store.upsert(room({ lastSeq: 9 }), true);
    assert.equal(store.timeline(ROOM).cursor, 2, 'the gap 3..9 is left for sync to fill');
  });
});

describe('backoffDelayMs', () => {
  const opts = { initialMs: 100, maxMs: 5_000 };

  it('draws from the upper half of a doubling ceiling', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(5_000, 100 * 2 ** attempt);
      const low = backoffDelayMs(attempt, { ...opts, random: () => 0 });
      const high = backoffDelayMs(attempt, { ...opts, random: () => 0.999999 });
      assert.equal(low, ceiling / 2, `attempt ${attempt} floor`);
      assert.ok(high <= ceiling && high >= ceiling - 1, `attempt ${attempt} ceiling`);
    }
  });

  it('never exceeds maxMs, even for huge attempts or a broken random', () => {
    assert.equal(backoffDelayMs(1_000, { ...opts, random: () => 1 }), 5_000);
    assert.equal(backoffDelayMs(3, { ...opts, random: () => 7 }), 800);
    assert.equal(backoffDelayMs(3, { ...opts, random: () => -1 }), 400);
    assert.equal(backoffDelayMs(-5, { ...opts, random: () => 0 }), 50);
  });

  it('spreads clients out', () => {
    let x = 0;
    const random = () => (x = (x + 0.37) % 1);
    const delays = new Set(
      Array.from({ length: 10 }, () => backoffDelayMs(4, { ...opts, random })),
    );
    assert.ok(delays.size > 5);
  });

  it('retries fast by default: 0.5-1 s first, never more than 12 s', () => {
    assert.equal(backoffDelayMs(0, { random: () => 0 }), 500);
    assert.equal(backoffDelayMs(0, { random: () => 1 }), 1_000);
    assert.equal(backoffDelayMs(50, { random: () => 1 }), 12_000);
  });

  it('refuses a nonsensical configuration', () => {
    assert.throws(() => backoffDelayMs(0, { initialMs: 0 }), TypeError);
    assert.throws(() => backoffDelayMs(0, { initialMs: 10, maxMs: 5 }), TypeError);
  });
});

describe('SyncSession', () => {
  it('repeats from the new cursors until every room is complete', () => {
    const s = new SyncSession('1', 2);
    const first = s.begin({ a: 0, b: 5, c: 9 });
    assert.deepEqual(first?.cursors, { a: 0, b: 5, c: 9 });
    assert.equal(first?.limit, 2);
    assert.equal(s.owns(first?.ref), true);
    const second = s.accept({
      a: { lastSeq: 2, complete: false },
      b: { lastSeq: 5, complete: true },
      c: { lastSeq: 9, complete: true },
    });
    assert.deepEqual(second?.cursors, { a: 2 });
    assert.notEqual(second?.ref, first?.ref);
    assert.equal(s.owns(first?.ref), false);
    assert.equal(s.accept({ a: { lastSeq: 3, complete: true } }), undefined);
    assert.equal(s.active, false);
  });

  it('does not loop when the server reports no progress', () => {
    const s = new SyncSession('1');
    s.begin({ a: 4 });
    assert.equal(s.accept({ a: { lastSeq: 4, complete: false } }), undefined);
  });

  it('still sends one sync without rooms, to release the held live stream', () => {
    const s = new SyncSession('1');
    assert.deepEqual(s.begin({})?.cursors, {});
    assert.equal(s.accept({}), undefined);
  });
});

describe('frames and expiry', () => {
  it('accepts known frames and drops garbage', () => {
    assert.equal(parseServerFrame('not json'), undefined);
    assert.equal(parseServerFrame('{"type":"nope"}'), undefined);
    assert.equal(parseServerFrame('{"type":"message","message":{"seq":"1"}}'), undefined);
    assert.equal(parseServerFrame(42), undefined);
    assert.equal(
      parseServerFrame(JSON.stringify({ type: 'message', message: msg(1) }))?.type,
      'message',
    );
  });

  it('reads expiry stamps in seconds, milliseconds and ISO text', () => {
    const ms = Date.UTC(2030, 0, 1);
    assert.equal(expiryToMs(ms / 1000), ms);
    assert.equal(expiryToMs(ms), ms);
    assert.equal(expiryToMs(new Date(ms).toISOString()), ms);
    assert.equal(expiryToMs('garbage'), undefined);
    const payload = Buffer.from(JSON.stringify({ exp: ms / 1000 })).toString('base64url');
    assert.equal(tokenExpiryMs(`h.${payload}.s`), ms);
    assert.equal(tokenExpiryMs('opaque'), undefined);
  });

  it('renews a minute early, or halfway for short lives', () => {
    assert.equal(renewDelayMs(600_000, 0), 540_000);
    assert.equal(renewDelayMs(60_000, 0), 30_000);
    assert.equal(renewDelayMs(0, 10), 0);
  });
});

// --- AtlasHttp against a scripted fetch ---

type Route = (url: URL, init: RequestInit) => { status: number; body?: unknown };

function scriptedFetch(route: Route) {
  const calls: Array<{ url: URL; init: RequestInit }> = [];
  const fetch = async (input: string, init: RequestInit = {}) => {
    const url = new URL(input);
    calls.push({ url, init });
    const { status, body } = route(url, init);
    return new Response(body === undefined ? null : JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json' },
    });
  };
  return { fetch, calls };
}

const header = (init: RequestInit, name: string) => new Headers(init.headers).get(name);

describe('AtlasHttp', () => {
  it('turns error bodies into AtlasApiError with code and status', async () => {
    const { fetch } = scriptedFetch(() => ({
      status: 403,
      body: { error: { code: 'not_member', message: 'no' } },
    }));
    const http = new AtlasHttp({ baseUrl: 'http://x', fetch, getAccessToken: () => 't' });
    await assert.rejects(http.messages(ROOM, { before: 5 }), (error: unknown) => {
      assert.ok(error instanceof AtlasApiError);
      assert.equal(error.code, 'not_member');
      assert.equal(error.status, 403);
      return true;
    });
  });

  it('maps a network failure and an unreadable body to client codes', async () => {
    const failing = async () => {
      throw new TypeError('fetch failed');
    };
    const http = new AtlasHttp({ baseUrl: 'http://x', fetch: failing });
    await assert.rejects(http.rooms(), { code: 'network_error', status: 0 });
    const { fetch } = scriptedFetch(() => ({ status: 502 }));
    await assert.rejects(new AtlasHttp({ baseUrl: 'http://x', fetch }).rooms(), {
      code: 'bad_response',
      status: 502,
    });
  });

  it('builds paths, queries and bodies', async () => {
    const { fetch, calls } = scriptedFetch(() => ({ status: 200, body: { users: [] } }));
    const http = new AtlasHttp({ baseUrl: 'http://x/', fetch, getAccessToken: () => 'tok' });
    await http.searchUsers('al', 5);
    const call = calls[0];
    assert.equal(call?.url.pathname, '/api/users');
    assert.equal(call?.url.search, '?prefix=al&limit=5');
    assert.equal(header(call?.init ?? {}, 'authorization'), 'Bearer tok');
  });

  it('refreshes once on token_expired and retries with the new token', async () => {
    let token = 'old';
    const { fetch, calls } = scriptedFetch((_url, init) =>
      header(init, 'authorization') === 'Bearer new'
        ? { status: 200, body: { rooms: [] } }
        : { status: 401, body: { error: { code: 'token_expired', message: 'expired' } } },
    );
    const http = new AtlasHttp({
      baseUrl: 'http://x',
      fetch,
      getAccessToken: () => token,
      refreshAccessToken: async () => (token = 'new'),
    });
    assert.deepEqual(await http.rooms(), []);
    assert.equal(calls.length, 2);
  });

  it('sends no token on anonymous routes', async () => {
    const { fetch, calls } = scriptedFetch(() => ({ status: 200, body: { ok: true } }));
    await new AtlasHttp({ baseUrl: 'http://x', fetch, getAccessToken: () => 't' }).logout('r');
    assert.equal(header(calls[0]?.init ?? {}, 'authorization'), null);
    assert.equal(calls[0]?.init.body, '{"refreshToken":"r"}');
  });
});

// --- AtlasClient against a fake socket and a scripted fetch ---

class FakeSocket implements WebSocketLike {
  static instances: FakeSocket[] = [];
  readyState = 0;
  sent: ClientFrame[] = [];
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(readonly url: string) {
    FakeSocket.instances.push(this);
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data) as ClientFrame);
  }

  close(code = 1000): void {
    this.serverClose(code);
  }

  serverOpen(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  serverSend(frame: ServerFrame): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  serverClose(code: number): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: '' });
  }

  framesOf<T extends ClientFrame['type']>(type: T): Extract<ClientFrame, { type: T }>[] {
    return this.sent.filter((f): f is Extract<ClientFrame, { type: T }> => f.type === type);
  }
}

function room(overrides: Partial<Room> = {}): Room {
  return {
    id: ROOM,
    kind: 'dm',
    name: 'Bob',
    memberIds: [ALICE, BOB],
    ownerId: null,
    peerId: BOB,
    lastSeq: 2,
    readSeq: 2,
    unread: 0,
    lastMessage: null,
    createdAt: '2030-01-01T00:00:00.000Z',
    ...overrides,
  };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (condition()) {
      return;
    }
    await tick();
  }
  assert.fail(`timed out waiting for ${what}`);
}

function setup(
  options: { rooms?: Room[]; onRefresh?: () => void; sessionStore?: SharedSessionStore } = {},
) {
  FakeSocket.instances = [];
  let ids = 0;
  const { fetch, calls } = scriptedFetch((url) => {
    if (url.pathname === '/api/rooms') {
      return { status: 200, body: { rooms: options.rooms ?? [room()] } };
    }
    if (url.pathname === '/api/auth/refresh') {
      options.onRefresh?.();
      const user = { id: ALICE, username: 'alice', displayName: 'Alice' };
      return { status: 200, body: { user, accessToken: 'access-2', refreshToken: 'refresh-2' } };
    }
    return { status: 404, body: { error: { code: 'not_found', message: url.pathname } } };
  });
  const client = new AtlasClient({
    session: {
      user: {
        id: ALICE,
        username: 'alice',
        displayName: 'Alice',
        statusText: null,
        avatarUrl: null,
        showLastSeen: true,
      },
      accessToken: 'access-1',
      refreshToken: 'refresh-1',
    },
    baseUrl: 'http://atlas.test',
    fetch,
    WebSocket: FakeSocket,
    backoff: { initialMs: 1, maxMs: 4, random: () => 0 },
    newClientMsgId: () => `cid-${++ids}`,
    ...(options.sessionStore ? { sessionStore: options.sessionStore } : {}),
  });
  const socket = (i: number) => {
    const s = FakeSocket.instances[i];
    assert.ok(s, `socket ${i} exists`);
    return s;
  };
  return { client, calls, socket };
}

const hello: ServerFrame = {
  type: 'hello',
  userId: ALICE,
  connectionId: 'c1',
  expiresAt: '2999-01-01T00:00:00.000Z',
  heartbeatMs: 60_000,
};

/** Opens socket `i`, answers hello and the first sync with "complete". */
async function connectAndSync(s: FakeSocket): Promise<void> {
  s.serverOpen();
  s.serverSend(hello);
  await until(() => s.framesOf('sync').length > 0, 'sync');
  const sync = s.framesOf('sync').at(-1);
  const rooms = Object.fromEntries(
    Object.entries(sync?.cursors ?? {}).map(([id, seq]) => [id, { lastSeq: seq, complete: true }]),
  );
  s.serverSend({ type: 'synced', rooms, ...(sync?.ref ? { ref: sync.ref } : {}) });
}

describe('AtlasClient', () => {
  it('connects with the token and syncs from the cursor of each room', async () => {
    const { client, socket } = setup();
    client.start();
    await until(() => FakeSocket.instances.length === 1, 'socket');
    assert.match(socket(0).url, /^ws:\/\/atlas\.test\/ws\?access_token=access-1&sync=1$/);
    socket(0).serverOpen();
    socket(0).serverSend(hello);
    await until(() => socket(0).framesOf('sync').length === 1, 'sync');
    const first = socket(0).framesOf('sync')[0];
    assert.deepEqual(first?.cursors, { [ROOM]: 2 });
    socket(0).serverSend({ type: 'message', message: msg(3) });
    socket(0).serverSend({
      type: 'synced',
      rooms: { [ROOM]: { lastSeq: 3, complete: false } },
      ...(first?.ref ? { ref: first.ref } : {}),
    });
    const second = socket(0).framesOf('sync')[1];
    assert.deepEqual(second?.cursors, { [ROOM]: 3 });
    assert.equal(client.synced, false);
    socket(0).serverSend({
      type: 'synced',
      rooms: { [ROOM]: { lastSeq: 3, complete: true } },
      ...(second?.ref ? { ref: second.ref } : {}),
    });
    assert.equal(client.synced, true);
    assert.equal(client.room(ROOM)?.unread, 1);
    client.stop();
  });

  it('shows a send as pending and ends with one entry when the echo beats the ack', async () => {
    const { client, socket } = setup();
    client.start();
    await until(() => FakeSocket.instances.length === 1, 'socket');
    await connectAndSync(socket(0));
    const entry = client.send(ROOM, 'hello bob');
    assert.equal(entry.status, 'pending');
    const frame = socket(0).framesOf('send')[0];
    assert.equal(frame?.clientMsgId, 'cid-1');
    const stored = msg(3, { clientMsgId: 'cid-1', senderId: ALICE, body: 'hello bob' });
    socket(0).serverSend({ type: 'message', message: stored });
    socket(0).serverSend({
      type: 'ack',
      roomId: ROOM,
      clientMsgId: 'cid-1',
      seq: 3,
      duplicate: false,
      message: stored,
      ref: 'send:cid-1',
    });
    const entries = client.timeline(ROOM).entries();
    assert.deepEqual(
      entries.map((e) => [e.clientMsgId, e.status, e.seq]),
      [['cid-1', 'sent', 3]],
    );
    assert.equal(client.outbox().length, 0);
    client.stop();
  });

  it('resends unacknowledged sends with the same clientMsgId after a reconnect', async () => {
    const { client, socket } = setup();
    client.start();
    await until(() => FakeSocket.instances.length === 1, 'socket');
    await connectAndSync(socket(0));
    client.send(ROOM, 'one');
    socket(0).serverClose(1006); // lost before the ack
    client.send(ROOM, 'two'); // written while disconnected: waits in the outbox
    assert.deepEqual(
      client.outbox().map((i) => i.clientMsgId),
      ['cid-1', 'cid-2'],
    );
    await until(() => FakeSocket.instances.length === 2, 'reconnect');
    assert.equal(socket(1).framesOf('send').length, 0, 'nothing is sent before the hello');
    await connectAndSync(socket(1));
    assert.deepEqual(
      socket(1)
        .framesOf('send')
        .map((f) => [f.clientMsgId, f.body]),
      [
        ['cid-1', 'one'],
        ['cid-2', 'two'],
      ],
    );
    const one = msg(3, { clientMsgId: 'cid-1', senderId: ALICE, body: 'one' });
    socket(1).serverSend({
      type: 'ack',
      roomId: ROOM,
      clientMsgId: 'cid-1',
      seq: 3,
      duplicate: true,
      message: one,
    });
    assert.deepEqual(
      client.outbox().map((i) => i.clientMsgId),
      ['cid-2'],
    );
    assert.deepEqual(
      client
        .timeline(ROOM)
        .entries()
        .map((e) => [e.clientMsgId, e.status]),
      [
        ['cid-1', 'sent'],
        ['cid-2', 'pending'],
      ],
    );
    client.stop();
  });

  it('does not resend what the catch-up already delivered', async () => {
    const { client, socket } = setup();
    client.start();
    await until(() => FakeSocket.instances.length === 1, 'socket');
    await connectAndSync(socket(0));
    client.send(ROOM, 'one');
    socket(0).serverClose(1011);
    await until(() => FakeSocket.instances.length === 2, 'reconnect');
    const s = socket(1);
    s.serverOpen();
    s.serverSend(hello);
    await until(() => s.framesOf('sync').length > 0, 'sync');
    const ref = s.framesOf('sync')[0]?.ref;
    s.serverSend({
      type: 'message',
      message: msg(3, { clientMsgId: 'cid-1', senderId: ALICE, body: 'one' }),
    });
    s.serverSend({
      type: 'synced',
      rooms: { [ROOM]: { lastSeq: 3, complete: true } },
      ...(ref ? { ref } : {}),
    });
    assert.equal(s.framesOf('send').length, 0);
    assert.equal(client.outbox().length, 0);
    client.stop();
  });

  it('drops rooms the catch-up reports as denied', async () => {
    const { client, socket } = setup();
    const removed: string[] = [];
    client.on('room_removed', ({ roomId }) => removed.push(roomId));
    client.start();
    await until(() => FakeSocket.instances.length === 1, 'socket');
    socket(0).serverOpen();
    socket(0).serverSend(hello);
    await until(() => socket(0).framesOf('sync').length === 1, 'sync');
    const ref = socket(0).framesOf('sync')[0]?.ref ?? null;
    socket(0).serverSend({ type: 'synced', rooms: {}, denied: [ROOM], ref });
    assert.deepEqual(removed, [ROOM]);
    assert.equal(client.room(ROOM), undefined);
    assert.equal(client.synced, true);
    client.stop();
  });

  it('marks a refused send as failed and keeps it out of the outbox', async () => {
    const { client, socket } = setup();
    client.start();
    await until(() => FakeSocket.instances.length === 1, 'socket');
    await connectAndSync(socket(0));
    client.send(ROOM, 'x');
    socket(0).serverSend({ type: 'error', code: 'blocked', message: 'no', ref: 'send:cid-1' });
    const entry = client.timeline(ROOM).entries()[0];
    assert.equal(entry?.status, 'failed');
    assert.equal(entry?.errorCode, 'blocked');
    assert.equal(client.outbox().length, 0);
    client.stop();
  });

  it('stops on close 4003 and does not reconnect', async () => {
    const { client, socket } = setup();
    const stops: string[] = [];
    client.on('stopped', ({ reason }) => stops.push(reason));
    client.start();
    await until(() => FakeSocket.instances.length === 1, 'socket');
    await connectAndSync(socket(0));
    socket(0).serverClose(4003);
    await tick();
    await tick();
    assert.deepEqual(stops, ['revoked']);
    assert.equal(client.connectionState, 'stopped');
    assert.equal(FakeSocket.instances.length, 1);
  });

  it('refreshes the token on close 4001 and reconnects with the new one', async () => {
    let refreshes = 0;
    const { client, socket } = setup({ onRefresh: () => refreshes++ });
    const sessions: string[] = [];
    client.on('session', (s) => sessions.push(s.accessToken));
    client.start();
    await until(() => FakeSocket.instances.length === 1, 'socket');
    await connectAndSync(socket(0));
    socket(0).serverClose(4001);
    await until(() => FakeSocket.instances.length === 2, 'reconnect');
    assert.equal(refreshes, 1);
    assert.deepEqual(sessions, ['access-2']);
    assert.match(socket(1).url, /access_token=access-2&sync=1$/);
    client.stop();
  });

  it('re-authenticates in-band before the connection expires', async () => {
    const { client, socket } = setup();
    client.start();
    await until(() => FakeSocket.instances.length === 1, 'socket');
    socket(0).serverOpen();
    socket(0).serverSend({ ...hello, expiresAt: new Date(Date.now() + 400).toISOString() });
    await until(() => socket(0).framesOf('auth').length === 1, 'auth frame');
    assert.equal(socket(0).framesOf('auth')[0]?.accessToken, 'access-2');
    assert.equal(FakeSocket.instances.length, 1, 'no reconnect');
    client.stop();
  });

  it('shares refreshes with other tabs through the session store', async () => {
    let refreshes = 0;
    let locks = 0;
    let stored: Session | undefined;
    const sessionStore: SharedSessionStore = {
      load: () => stored,
      save: (session) => (stored = session),
      lock: async (work) => {
        locks++;
        return work();
      },
    };
    const { client } = setup({ onRefresh: () => refreshes++, sessionStore });

    const first = await client.refreshSession();
    assert.equal(first.refreshToken, 'refresh-2');
    assert.equal(stored?.refreshToken, 'refresh-2', 'saved for the other tabs');
    assert.equal(refreshes, 1);

    // Another tab rotated the token meanwhile: adopt its session rather than present ours.
    const exp = Math.floor(Date.now() / 1000) + 600;
    const jwt = `h.${Buffer.from(JSON.stringify({ exp })).toString('base64url')}.s`;
    stored = { ...first, accessToken: jwt, refreshToken: 'refresh-from-other-tab' };
    const second = await client.refreshSession();
    assert.equal(second.refreshToken, 'refresh-from-other-tab');
    assert.equal(refreshes, 1, 'no request with the stale token');
    assert.equal(locks, 2);
  });

  it('tracks read markers, typing and presence events', async () => {
    const { client, socket } = setup();
    const typing: string[] = [];
    client.on('typing', (e) => typing.push(e.userId));
    client.start();
    await until(() => FakeSocket.instances.length === 1, 'socket');
    await connectAndSync(socket(0));
    socket(0).serverSend({ type: 'typing', roomId: ROOM, userId: BOB });
    socket(0).serverSend({ type: 'typing', roomId: ROOM, userId: ALICE }); // own other tab
    socket(0).serverSend({ type: 'read', roomId: ROOM, userId: BOB, seq: 2 });
    socket(0).serverSend({ type: 'presence', userId: BOB, status: 'online', lastSeenAt: null });
    assert.deepEqual(typing, [BOB]);
    assert.equal(client.readersOf(ROOM).get(BOB), 2);
    assert.equal(client.presenceOf(BOB)?.online, true);
    socket(0).serverSend({ type: 'message', message: msg(3) });
    assert.equal(client.room(ROOM)?.unread, 1);
    client.markRead(ROOM);
    assert.equal(client.room(ROOM)?.unread, 0);
    assert.deepEqual(socket(0).framesOf('read').at(-1), { type: 'read', roomId: ROOM, seq: 3 });
    socket(0).serverSend({ type: 'room_removed', roomId: ROOM });
    assert.equal(client.room(ROOM), undefined);
    client.stop();
  });
});
