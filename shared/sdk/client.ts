import type { BackoffOptions } from './backoff.ts';
import {
  RealtimeConnection,
  type ConnectionState,
  type StopReason,
  type WebSocketConstructor,
} from './connection.ts';
import { Emitter } from './emitter.ts';
import { AtlasApiError, isSessionEnded, isTransient, toErrorCode } from './errors.ts';
import { AtlasHttp, type FetchLike } from './http.ts';
import { newClientMsgId } from './ids.ts';
import { Outbox } from './outbox.ts';
import { SyncSession } from './sync.ts';
import { RoomTimeline, type TimelineEntry } from './timeline.ts';
import type {
  ChatMessage,
  HelloFrame,
  OwnUser,
  PublicUser,
  Room,
  RoomDetail,
  ServerFrame,
} from './types.ts';

export interface Session {
  user: OwnUser;
  accessToken: string;
  refreshToken: string;
}

export interface PresenceInfo {
  online: boolean;
  lastSeenAt: string | null;
}

type Empty = Record<string, never>;

export interface AtlasEvents {
  state: ConnectionState;
  /** New tokens after a refresh: persist them. */
  session: Session;
  /** The room list, or a room's counters (unread, last message), changed. */
  rooms: readonly Room[];
  timeline: { roomId: string };
  /** A stored message the client did not hold before (live, ack, or catch-up). */
  message: ChatMessage;
  typing: { roomId: string; userId: string };
  read: { roomId: string; userId: string; seq: number };
  presence: { userId: string } & PresenceInfo;
  room: Room;
  room_removed: { roomId: string };
  /** Friend requests, friends or blocks changed: refetch them. */
  contacts_changed: Empty;
  /** The catch-up after a (re)connect finished; every room is current. */
  synced: Empty;
  /** An `error` frame, or a background request that failed. */
  error: AtlasApiError;
  /** The client gave up: logged out elsewhere (`revoked`) or the refresh token is dead. */
  stopped: { reason: StopReason };
}

export interface AtlasClientOptions {
  session: Session;
  /** Server origin, e.g. `http://localhost:8080`; '' (default) is the page's own origin. */
  baseUrl?: string;
  /** Defaults to baseUrl (or the page's location) with ws(s): and `/ws`. */
  wsUrl?: string;
  fetch?: FetchLike;
  /** Defaults to globalThis.WebSocket; in Node pass `ws`'s WebSocket. */
  WebSocket?: WebSocketConstructor;
  backoff?: BackoffOptions;
  /** Messages per room per `sync` round (1-500). */
  syncLimit?: number;
  historyPageSize?: number;
  newClientMsgId?: () => string;
  onListenerError?: (error: unknown) => void;
}

const TYPING_THROTTLE_MS = 2_500;
const MAX_BODY_CODE_POINTS = 4_000;

/**
 * The ATLAS client: REST, one realtime connection, and per room a timeline kept ordered and
 * complete across reconnects. Views read its state and re-render on its events.
 */
export class AtlasClient {
  readonly http: AtlasHttp;
  #options: AtlasClientOptions;
  #session: Session;
  #events: Emitter<AtlasEvents>;
  #connection: RealtimeConnection;
  #rooms = new Map<string, Room>();
  #timelines = new Map<string, RoomTimeline>();
  #reads = new Map<string, Map<string, number>>();
  #presence = new Map<string, PresenceInfo>();
  #outbox = new Outbox();
  /** Outbox items written on the current connection, not to be written again on it. */
  #inFlight = new Set<string>();
  #sync: SyncSession | undefined;
  #syncRetried = false;
  #synced = false;
  #hellos = 0;
  #roomsLoad: Promise<unknown> | undefined;
  #refreshing: Promise<Session> | undefined;
  #adopting = new Set<string>();
  #typingSentAt = new Map<string, number>();
  #flushTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: AtlasClientOptions) {
    if (!options.session?.accessToken || !options.session.refreshToken) {
      throw new TypeError('AtlasClient needs a session with accessToken and refreshToken');
    }
    this.#options = options;
    this.#session = options.session;
    this.#events = new Emitter<AtlasEvents>(options.onListenerError);
    this.http = new AtlasHttp({
      baseUrl: options.baseUrl ?? '',
      ...(options.fetch ? { fetch: options.fetch } : {}),
      getAccessToken: () => this.#session.accessToken,
      refreshAccessToken: async () => (await this.refreshSession()).accessToken,
    });
    this.#connection = new RealtimeConnection({
      url: options.wsUrl ?? defaultWsUrl(options.baseUrl),
      ...(options.WebSocket ? { WebSocket: options.WebSocket } : {}),
      ...(options.backoff ? { backoff: options.backoff } : {}),
      getAccessToken: () => this.#session.accessToken,
      refreshAccessToken: async () => (await this.refreshSession()).accessToken,
      onHello: (hello) => void this.#onHello(hello),
      onFrame: (frame) => this.#onFrame(frame),
      onStateChange: (state) => this.#onStateChange(state),
      onStop: (reason) => this.#events.emit('stopped', { reason }),
    });
  }

  get user(): OwnUser {
    return this.#session.user;
  }

  get session(): Session {
    return this.#session;
  }

  get connectionState(): ConnectionState {
    return this.#connection.state;
  }

  /** True once the catch-up after the latest connect finished, until the connection drops. */
  get synced(): boolean {
    return this.#synced;
  }

  on<K extends keyof AtlasEvents>(type: K, listener: (payload: AtlasEvents[K]) => void) {
    return this.#events.on(type, listener);
  }

  /** Loads the room list and opens the realtime connection. */
  start(): void {
    this.#roomsLoad = this.loadRooms().catch((error: unknown) => this.#report(error));
    this.#connection.start();
  }

  stop(): void {
    clearTimeout(this.#flushTimer);
    this.#connection.stop();
  }

  /** Ends the login on the server (best effort) and stops. */
  async logout(): Promise<void> {
    this.stop();
    try {
      await this.http.logout(this.#session.refreshToken);
    } catch (error) {
      this.#report(error);
    }
  }

  reconnectNow(): void {
    this.#connection.reconnectNow();
  }

  /** Trades the refresh token for new tokens; concurrent callers share one request. */
  refreshSession(): Promise<Session> {
    this.#refreshing ??= (async () => {
      try {
        const result = await this.http.refresh(this.#session.refreshToken);
        this.#session = { ...result };
        this.#events.emit('session', this.#session);
        return this.#session;
      } catch (error) {
        if (isSessionEnded(error)) {
          this.#connection.stop('session_ended');
        }
        throw error;
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  // --- rooms ---

  /** Rooms, most recently active first. */
  rooms(): Room[] {
    const activity = (r: Room) => r.lastMessage?.createdAt ?? r.createdAt;
    return [...this.#rooms.values()].sort((a, b) => activity(b).localeCompare(activity(a)));
  }

  room(roomId: string): Room | undefined {
    return this.#rooms.get(roomId);
  }

  timeline(roomId: string): RoomTimeline {
    let timeline = this.#timelines.get(roomId);
    if (!timeline) {
      timeline = new RoomTimeline(roomId, this.#rooms.get(roomId)?.lastSeq ?? 0);
      this.#timelines.set(roomId, timeline);
    }
    return timeline;
  }

  /** Refetches the room list; rooms no longer listed are dropped. */
  async loadRooms(): Promise<Room[]> {
    const list = await this.http.rooms();
    const listed = new Set<string>();
    for (const room of list) {
      listed.add(room.id);
      this.#upsertRoom(room, true);
    }
    for (const roomId of [...this.#rooms.keys()]) {
      if (!listed.has(roomId)) {
        this.#removeRoom(roomId);
      }
    }
    this.#emitRooms();
    return this.rooms();
  }

  /** Loads the newest history page the first time a room is opened. */
  async openRoom(roomId: string): Promise<RoomTimeline> {
    const timeline = this.timeline(roomId);
    if (!timeline.historyLoaded) {
      const limit = this.#options.historyPageSize;
      const page = await this.http.messages(roomId, limit ? { limit } : {});
      timeline.applyNewestPage(page);
      this.#noteMessages(roomId, page.messages);
      this.#events.emit('timeline', { roomId });
    }
    return timeline;
  }

  /** Scroll-back: loads the page below the oldest held message; resolves to how many arrived. */
  async loadOlder(roomId: string): Promise<number> {
    const timeline = this.timeline(roomId);
    if (!timeline.hasOlder) {
      return 0;
    }
    const before = timeline.oldestSeq ?? timeline.cursor + 1;
    if (before <= 1) {
      timeline.hasOlder = false;
      return 0;
    }
    const limit = this.#options.historyPageSize;
    const page = await this.http.messages(roomId, limit ? { before, limit } : { before });
    const added = timeline.applyOlderPage(page);
    this.#events.emit('timeline', { roomId });
    return added;
  }

  /** The room with its members; seeds presence and, when the server sends them, read markers. */
  async roomDetail(roomId: string): Promise<RoomDetail> {
    const detail = await this.http.room(roomId);
    const { members = [], ...room } = detail;
    this.#upsertRoom(room, false);
    this.trackUsers(members);
    for (const member of members) {
      if (typeof member.readSeq === 'number') {
        this.#noteRead(roomId, member.id, member.readSeq);
      }
    }
    this.#emitRooms();
    return detail;
  }

  async openDm(userId: string): Promise<Room> {
    const room = await this.http.openDm(userId);
    this.#upsertRoom(room, false);
    this.#emitRooms();
    return this.#rooms.get(room.id) ?? room;
  }

  async createGroup(name: string, memberIds: string[]): Promise<Room> {
    const room = await this.http.createGroup(name, memberIds);
    this.#upsertRoom(room, false);
    this.#emitRooms();
    return this.#rooms.get(room.id) ?? room;
  }

  // --- messages ---

  /**
   * Sends a message: it shows as pending at once and is written now or, when the connection is
   * down, after the next catch-up. Throws `validation_failed` for an empty or oversize body.
   */
  send(roomId: string, body: string): TimelineEntry {
    const length = [...body].length;
    if (length < 1 || length > MAX_BODY_CODE_POINTS) {
      throw new AtlasApiError('validation_failed', 'body must be 1-4000 characters', 0);
    }
    const clientMsgId = (this.#options.newClientMsgId ?? newClientMsgId)();
    const timeline = this.timeline(roomId);
    const entry = timeline.addPending({ clientMsgId, senderId: this.user.id, body });
    this.#outbox.add({ roomId, clientMsgId, body });
    this.#events.emit('timeline', { roomId });
    this.#flushOutbox();
    return entry;
  }

  /** Sends a failed message again, with its original clientMsgId. */
  retry(roomId: string, clientMsgId: string): void {
    const entry = this.timeline(roomId).markPending(clientMsgId);
    if (entry) {
      this.#outbox.add({ roomId, clientMsgId, body: entry.body });
      this.#events.emit('timeline', { roomId });
      this.#flushOutbox();
    }
  }

  /** Drops a failed or pending send from the timeline and the outbox. */
  discard(roomId: string, clientMsgId: string): void {
    this.#outbox.settle(clientMsgId);
    if (this.timeline(roomId).removePending(clientMsgId)) {
      this.#events.emit('timeline', { roomId });
    }
  }

  /** Unacknowledged sends, in order (for display or persistence). */
  outbox() {
    return this.#outbox.items();
  }

  /** Tells the room the user is typing; throttled, so call it on every keystroke. */
  typing(roomId: string): void {
    const now = Date.now();
    if (now - (this.#typingSentAt.get(roomId) ?? 0) < TYPING_THROTTLE_MS) {
      return;
    }
    if (this.#connection.send({ type: 'typing', roomId })) {
      this.#typingSentAt.set(roomId, now);
    }
  }

  /** Moves the read marker to `seq` (default: the newest held message); never backwards. */
  markRead(roomId: string, seq?: number): void {
    const room = this.#rooms.get(roomId);
    const target = seq ?? this.timeline(roomId).lastSeq;
    if (!room || target <= room.readSeq) {
      return;
    }
    this.#noteRead(roomId, this.user.id, target);
    this.#emitRooms();
    if (!this.#connection.send({ type: 'read', roomId, seq: target })) {
      this.http.markRead(roomId, target).catch((error: unknown) => this.#report(error));
    }
  }

  /** Read markers known for the room's members (from `read` events and room details). */
  readersOf(roomId: string): ReadonlyMap<string, number> {
    return this.#reads.get(roomId) ?? new Map<string, number>();
  }

  presenceOf(userId: string): PresenceInfo | undefined {
    return this.#presence.get(userId);
  }

  /** Records presence from fetched profiles (friends, contacts, members). */
  trackUsers(users: readonly PublicUser[]): void {
    for (const user of users) {
      if (typeof user.online === 'boolean') {
        this.#presence.set(user.id, { online: user.online, lastSeenAt: user.lastSeenAt ?? null });
      }
    }
  }

  // --- realtime ---

  async #onHello(_hello: HelloFrame): Promise<void> {
    const connection = ++this.#hellos;
    this.#synced = false;
    this.#syncRetried = false;
    this.#inFlight.clear();
    // Rooms joined or left while disconnected are only known from a fresh list.
    const pendingLoad = connection === 1 ? this.#roomsLoad : undefined;
    await (pendingLoad ?? this.loadRooms().catch((error: unknown) => this.#report(error)));
    if (connection === this.#hellos && this.#connection.state === 'open') {
      this.#beginSync(connection);
    }
  }

  #beginSync(connection: number): void {
    const cursors: Record<string, number> = {};
    for (const roomId of this.#rooms.keys()) {
      cursors[roomId] = this.timeline(roomId).cursor;
    }
    this.#sync = new SyncSession(String(connection), this.#options.syncLimit);
    this.#continueSync(this.#sync.begin(cursors));
  }

  #continueSync(frame: ReturnType<SyncSession['begin']>): void {
    if (frame) {
      this.#connection.send(frame);
      return;
    }
    this.#sync = undefined;
    this.#synced = true;
    this.#flushOutbox();
    this.#events.emit('synced', {});
  }

  #onStateChange(state: ConnectionState): void {
    if (state !== 'open') {
      this.#synced = false;
      this.#sync?.cancel();
      this.#sync = undefined;
    }
    this.#events.emit('state', state);
  }

  #onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'message':
        this.#onMessages(frame.message.roomId, [frame.message]);
        return;
      case 'ack':
        this.#outbox.settle(frame.clientMsgId);
        this.#inFlight.delete(frame.clientMsgId);
        this.#onMessages(frame.message.roomId, [frame.message]);
        return;
      case 'synced':
        if (this.#sync?.owns(frame.ref)) {
          this.#continueSync(this.#sync.accept(frame.rooms));
        }
        return;
      case 'typing':
        if (frame.userId !== this.user.id && this.#rooms.has(frame.roomId)) {
          this.#events.emit('typing', { roomId: frame.roomId, userId: frame.userId });
        }
        return;
      case 'read':
        this.#noteRead(frame.roomId, frame.userId, frame.seq);
        this.#events.emit('read', { roomId: frame.roomId, userId: frame.userId, seq: frame.seq });
        if (frame.userId === this.user.id) {
          this.#emitRooms();
        }
        return;
      case 'presence': {
        const info = { online: frame.status === 'online', lastSeenAt: frame.lastSeenAt ?? null };
        this.#presence.set(frame.userId, info);
        this.#events.emit('presence', { userId: frame.userId, ...info });
        return;
      }
      case 'room':
        this.#upsertRoom(frame.room, false);
        this.#events.emit('room', this.#rooms.get(frame.room.id) ?? frame.room);
        this.#emitRooms();
        return;
      case 'room_removed':
        this.#removeRoom(frame.roomId);
        this.#events.emit('room_removed', { roomId: frame.roomId });
        this.#emitRooms();
        return;
      case 'contacts_changed':
        this.#events.emit('contacts_changed', {});
        return;
      case 'error':
        this.#onErrorFrame(frame);
        return;
      default:
        return; // hello, authed and pong are the connection's business
    }
  }

  #onMessages(roomId: string, messages: ChatMessage[]): void {
    if (!this.#rooms.has(roomId)) {
      const first = messages[0];
      if (first && !this.#timelines.has(roomId)) {
        this.#timelines.set(roomId, new RoomTimeline(roomId, first.seq - 1));
      }
      void this.#adoptRoom(roomId);
    }
    for (const message of messages) {
      // The echo proves the message is stored, even when its ack was lost with the socket.
      if (this.#outbox.get(message.clientMsgId)?.roomId === roomId) {
        this.#outbox.settle(message.clientMsgId);
        this.#inFlight.delete(message.clientMsgId);
      }
    }
    const timeline = this.timeline(roomId);
    const fresh = messages.filter((m) => m.roomId === roomId && !timeline.message(m.seq));
    if (timeline.insert(fresh) > 0) {
      this.#noteMessages(roomId, fresh);
      this.#events.emit('timeline', { roomId });
      for (const message of fresh) {
        this.#events.emit('message', message);
      }
      this.#emitRooms();
    }
  }

  #onErrorFrame(frame: Extract<ServerFrame, { type: 'error' }>): void {
    const error = new AtlasApiError(toErrorCode(frame.code), frame.message, 0);
    const ref = frame.ref ?? '';
    if (ref.startsWith('send:')) {
      this.#onSendRefused(ref.slice('send:'.length), error);
    } else if (this.#sync?.owns(ref)) {
      // Most likely a room in the cursors is no longer ours: refetch the list and start over,
      // once; after that, stop waiting so the outbox is not held up for good.
      const connection = this.#hellos;
      this.#sync = undefined;
      if (this.#syncRetried) {
        this.#continueSync(undefined);
      } else {
        this.#syncRetried = true;
        void this.loadRooms()
          .catch((loadError: unknown) => this.#report(loadError))
          .then(() => {
            if (connection === this.#hellos && this.#connection.state === 'open') {
              this.#beginSync(connection);
            }
          });
      }
    }
    this.#events.emit('error', error);
  }

  #onSendRefused(clientMsgId: string, error: AtlasApiError): void {
    const item = this.#outbox.get(clientMsgId);
    if (!item) {
      return;
    }
    this.#inFlight.delete(clientMsgId);
    if (isTransient(error)) {
      this.#scheduleFlush(Math.min(30_000, 1_000 * 2 ** Math.min(item.attempts, 5)));
      return;
    }
    this.#outbox.settle(clientMsgId);
    if (this.timeline(item.roomId).markFailed(clientMsgId, error.code)) {
      this.#events.emit('timeline', { roomId: item.roomId });
    }
  }

  /** Writes every outbox item not yet written on this connection, in send order. */
  #flushOutbox(): void {
    if (!this.#synced) {
      return;
    }
    for (const item of this.#outbox.items()) {
      if (this.#inFlight.has(item.clientMsgId)) {
        continue;
      }
      if (!this.timeline(item.roomId).pendingEntry(item.clientMsgId)) {
        this.#outbox.settle(item.clientMsgId); // already stored, or discarded by the user
        continue;
      }
      const { roomId, clientMsgId, body } = item;
      const frame = {
        type: 'send',
        roomId,
        clientMsgId,
        body,
        ref: `send:${clientMsgId}`,
      } as const;
      if (!this.#connection.send(frame)) {
        return;
      }
      item.attempts++;
      this.#inFlight.add(clientMsgId);
    }
  }

  #scheduleFlush(delayMs: number): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = setTimeout(() => this.#flushOutbox(), delayMs);
  }

  // --- bookkeeping ---

  #upsertRoom(room: Room, fromList: boolean): void {
    const existing = this.#rooms.get(room.id);
    const timeline = this.#timelines.get(room.id);
    if (timeline && fromList && !timeline.historyLoaded && room.lastSeq > timeline.cursor) {
      timeline.resetTo(room.lastSeq);
    }
    const lastSeq = Math.max(room.lastSeq, existing?.lastSeq ?? 0, timeline?.lastSeq ?? 0);
    const readSeq = Math.max(room.readSeq, existing?.readSeq ?? 0);
    const lastMessage = newer(room.lastMessage, existing?.lastMessage ?? null);
    this.#rooms.set(room.id, { ...room, lastSeq, readSeq, lastMessage, unread: lastSeq - readSeq });
    if (!timeline) {
      this.#timelines.set(room.id, new RoomTimeline(room.id, room.lastSeq));
    }
  }

  #removeRoom(roomId: string): void {
    this.#rooms.delete(roomId);
    this.#timelines.delete(roomId);
    this.#reads.delete(roomId);
    for (const item of this.#outbox.items()) {
      if (item.roomId === roomId) {
        this.#inFlight.delete(item.clientMsgId);
      }
    }
    this.#outbox.dropRoom(roomId);
  }

  async #adoptRoom(roomId: string): Promise<void> {
    if (this.#adopting.has(roomId)) {
      return;
    }
    this.#adopting.add(roomId);
    try {
      await this.roomDetail(roomId);
    } catch (error) {
      this.#report(error);
    } finally {
      this.#adopting.delete(roomId);
    }
  }

  #noteMessages(roomId: string, messages: readonly ChatMessage[]): void {
    const room = this.#rooms.get(roomId);
    if (!room) {
      return;
    }
    let { lastSeq, lastMessage } = room;
    for (const message of messages) {
      lastSeq = Math.max(lastSeq, message.seq);
      lastMessage = newer(message, lastMessage);
    }
    this.#rooms.set(roomId, { ...room, lastSeq, lastMessage, unread: lastSeq - room.readSeq });
  }

  #noteRead(roomId: string, userId: string, seq: number): void {
    let reads = this.#reads.get(roomId);
    if (!reads) {
      reads = new Map();
      this.#reads.set(roomId, reads);
    }
    reads.set(userId, Math.max(seq, reads.get(userId) ?? 0));
    const room = this.#rooms.get(roomId);
    if (userId === this.user.id && room && seq > room.readSeq) {
      this.#rooms.set(roomId, { ...room, readSeq: seq, unread: Math.max(0, room.lastSeq - seq) });
    }
  }

  #emitRooms(): void {
    this.#events.emit('rooms', this.rooms());
  }

  #report(error: unknown): void {
    const wrapped =
      error instanceof AtlasApiError
        ? error
        : new AtlasApiError(
            'bad_response',
            error instanceof Error ? error.message : String(error),
            0,
          );
    this.#events.emit('error', wrapped);
  }
}

function newer(a: ChatMessage | null, b: ChatMessage | null): ChatMessage | null {
  if (!a || !b) {
    return a ?? b;
  }
  return a.seq >= b.seq ? a : b;
}

function defaultWsUrl(baseUrl: string | undefined): string {
  if (baseUrl) {
    return `${baseUrl.replace(/\/+$/, '').replace(/^http/, 'ws')}/ws`;
  }
  const location = (globalThis as { location?: Location }).location;
  if (!location) {
    throw new TypeError('AtlasClient needs baseUrl or wsUrl outside a browser');
  }
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
}
