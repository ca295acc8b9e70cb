import type { BackoffOptions } from './backoff.ts';
import {
  RealtimeConnection,
  type ConnectionState,
  type StopReason,
  type WebSocketConstructor,
} from './connection.ts';
import { Emitter } from './emitter.ts';
import { AtlasApiError, isSessionEnded, isTransient, toErrorCode } from './errors.ts';
import { tokenExpiryMs } from './expiry.ts';
import { AtlasHttp, type FetchLike } from './http.ts';
import { newClientMsgId } from './ids.ts';
import { Outbox } from './outbox.ts';
import { RoomStore, type PresenceInfo } from './room-store.ts';
import { SyncSession } from './sync.ts';
import type { RoomTimeline, TimelineEntry } from './timeline.ts';
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

export interface SharedSessionStore {
  load(): Session | undefined;
  save(session: Session): void;
  /** Runs `work` exclusively among the holders (e.g. navigator.locks in browsers). */
  lock?<T>(work: () => Promise<T>): Promise<T>;
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
  /**
   * Where the login is shared with other holders (browser tabs share localStorage). Refreshes
   * run under `lock` and first look for a session another holder already rotated to, because
   * the server revokes a login whose refresh token is presented twice.
   */
  sessionStore?: SharedSessionStore;
}

const TYPING_THROTTLE_MS = 2_500;
const MIN_ADOPTED_TOKEN_LIFE_MS = 30_000;
const MAX_BODY_CODE_POINTS = 4_000;

/**
 * The ATLAS client: REST, one realtime connection, and per room a timeline kept ordered and
 * complete across reconnects. Views read its state and re-render on its events.
 *
 * This is the one place where connection, catch-up, outbox and room state meet, so it is longer
 * than the rest: the pieces it drives (RoomStore, RoomTimeline, Outbox, SyncSession,
 * RealtimeConnection) hold the logic and are tested on their own.
 */
export class AtlasClient {
  readonly http: AtlasHttp;
  #options: AtlasClientOptions;
  #session: Session;
  #events: Emitter<AtlasEvents>;
  #connection: RealtimeConnection;
  #store: RoomStore;
  #outbox = new Outbox();
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
    this.#store = new RoomStore(options.session.user.id);
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
      syncOnConnect: true,
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
    const shared = this.#options.sessionStore;
    const work = async (): Promise<Session> => {
      try {
        const adopted = this.#adoptStoredSession();
        const result = adopted ?? (await this.http.refresh(this.#session.refreshToken));
        this.#session = { ...result };
        if (!adopted) {
          shared?.save(this.#session);
        }
        this.#events.emit('session', this.#session);
        return this.#session;
      } catch (error) {
        if (isSessionEnded(error)) {
          this.#connection.stop('session_ended');
        }
        throw error;
      }
    };
    this.#refreshing ??= (shared?.lock ? shared.lock(work) : work()).finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  /**
   * A session another holder of this login (another tab) stored after rotating the refresh
   * token we hold: presenting ours again would look like theft and revoke the login.
   */
  #adoptStoredSession(): Session | undefined {
    const stored = this.#options.sessionStore?.load();
    if (
      !stored ||
      stored.user.id !== this.#session.user.id ||
      stored.refreshToken === this.#session.refreshToken
    ) {
      return undefined;
    }
    const expiresAt = tokenExpiryMs(stored.accessToken);
    if (expiresAt !== undefined && expiresAt - Date.now() < MIN_ADOPTED_TOKEN_LIFE_MS) {
      // Its access token is about to lapse too: continue from its refresh token instead.
      this.#session = stored;
      return undefined;
    }
    return stored;
  }

  // --- rooms ---

  /** Rooms, most recently active first. */
  rooms(): Room[] {
    return this.#store.list();
  }

  room(roomId: string): Room | undefined {
    return this.#store.get(roomId);
  }

  /** The room's timeline (created empty, at the room's lastSeq, if the room was never opened). */
  timeline(roomId: string): RoomTimeline {
    return this.#store.timeline(roomId);
  }

  /** Refetches the room list; rooms no longer listed are dropped. */
  async loadRooms(): Promise<Room[]> {
    const list = await this.http.rooms();
    const listed = new Set<string>();
    for (const room of list) {
      listed.add(room.id);
      this.#store.upsert(room, true);
    }
    for (const roomId of this.#store.ids()) {
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
      this.#store.noteMessages(roomId, page.messages);
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
    this.#store.upsert(room, false);
    this.#store.trackUsers(members);
    for (const member of members) {
      if (typeof member.readSeq === 'number') {
        this.#store.noteRead(roomId, member.id, member.readSeq);
      }
    }
    this.#emitRooms();
    return detail;
  }

  async openDm(userId: string): Promise<Room> {
    const room = this.#store.upsert(await this.http.openDm(userId), false);
    this.#emitRooms();
    return room;
  }

  async createGroup(name: string, memberIds: string[]): Promise<Room> {
    const room = this.#store.upsert(await this.http.createGroup(name, memberIds), false);
    this.#emitRooms();
    return room;
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
    const room = this.#store.get(roomId);
    const target = seq ?? this.timeline(roomId).lastSeq;
    if (!room || target <= room.readSeq) {
      return;
    }
    this.#store.noteRead(roomId, this.user.id, target);
    this.#emitRooms();
    if (!this.#connection.send({ type: 'read', roomId, seq: target })) {
      this.http.markRead(roomId, target).catch((error: unknown) => this.#report(error));
    }
  }

  /** Read markers known for the room's members (from `read` events and room details). */
  readersOf(roomId: string): ReadonlyMap<string, number> {
    return this.#store.readersOf(roomId);
  }

  presenceOf(userId: string): PresenceInfo | undefined {
    return this.#store.presenceOf(userId);
  }

  /** Records presence from fetched profiles (friends, contacts, members). */
  trackUsers(users: readonly PublicUser[]): void {
    this.#store.trackUsers(users);
  }

  // --- realtime ---

  async #onHello(_hello: HelloFrame): Promise<void> {
    const connection = ++this.#hellos;
    this.#synced = false;
    this.#syncRetried = false;
    this.#outbox.rewind();
    // Rooms joined or left while disconnected are only known from a fresh list.
    const pendingLoad = connection === 1 ? this.#roomsLoad : undefined;
    await (pendingLoad ?? this.loadRooms().catch((error: unknown) => this.#report(error)));
    if (connection === this.#hellos && this.#connection.state === 'open') {
      this.#beginSync(connection);
    }
  }

  #beginSync(connection: number): void {
    const cursors: Record<string, number> = {};
    for (const roomId of this.#store.ids()) {
      cursors[roomId] = this.timeline(roomId).cursor;
    }
    this.#sync = new SyncSession(String(connection), this.#options.syncLimit);
    this.#continueSync(this.#sync.begin(cursors));
  }

  #continueSync(frame: ReturnType<SyncSession['accept']>): void {
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
        this.#onMessages(frame.message.roomId, [frame.message]);
        return;
      case 'synced':
        if (this.#sync?.owns(frame.ref ?? undefined)) {
          this.#dropDenied(frame.denied ?? []);
          this.#continueSync(this.#sync.accept(frame.rooms));
        }
        return;
      case 'typing':
        if (frame.userId !== this.user.id && this.#store.has(frame.roomId)) {
          this.#events.emit('typing', { roomId: frame.roomId, userId: frame.userId });
        }
        return;
      case 'read':
        this.#store.noteRead(frame.roomId, frame.userId, frame.seq);
        this.#events.emit('read', { roomId: frame.roomId, userId: frame.userId, seq: frame.seq });
        if (frame.userId === this.user.id) {
          this.#emitRooms();
        }
        return;
      case 'presence': {
        const info = { online: frame.status === 'online', lastSeenAt: frame.lastSeenAt ?? null };
        this.#store.setPresence(frame.userId, info);
        this.#events.emit('presence', { userId: frame.userId, ...info });
        return;
      }
      case 'room':
        this.#events.emit('room', this.#store.upsert(frame.room, false));
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
    if (!this.#store.has(roomId)) {
      // A room we have not heard of (its `room` event was lost): start its timeline at this
      // message and fetch the room itself.
      const first = messages[0];
      if (first && !this.#store.hasTimeline(roomId)) {
        this.#store.timeline(roomId, first.seq - 1);
      }
      void this.#adoptRoom(roomId);
    }
    for (const message of messages) {
      // The echo proves the message is stored, even when its ack was lost with the socket.
      if (this.#outbox.get(message.clientMsgId)?.roomId === roomId) {
        this.#outbox.settle(message.clientMsgId);
      }
    }
    const timeline = this.timeline(roomId);
    const fresh = messages.filter((m) => m.roomId === roomId && !timeline.message(m.seq));
    if (timeline.insert(fresh) > 0) {
      this.#store.noteMessages(roomId, fresh);
      this.#events.emit('timeline', { roomId });
      for (const message of fresh) {
        this.#events.emit('message', message);
      }
      this.#emitRooms();
    }
  }

  /** Rooms the server says the user no longer belongs to (removed while disconnected). */
  #dropDenied(roomIds: readonly string[]): void {
    for (const roomId of roomIds) {
      if (this.#store.has(roomId)) {
        this.#removeRoom(roomId);
        this.#events.emit('room_removed', { roomId });
      }
    }
    if (roomIds.length > 0) {
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
    this.#outbox.rewind(clientMsgId);
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
      if (item.written) {
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
      this.#outbox.markWritten(clientMsgId);
    }
  }

  #scheduleFlush(delayMs: number): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = setTimeout(() => this.#flushOutbox(), delayMs);
  }

  // --- bookkeeping ---

  #removeRoom(roomId: string): void {
    this.#store.remove(roomId);
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
