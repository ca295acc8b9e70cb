import { isAppError } from '../shared/errors.ts';
import type { RoomEvent, UserEvent } from '../shared/events.ts';
import type { Logger } from '../shared/log.ts';
import type { Metrics } from '../shared/metrics.ts';
import { channels, type MessageStore, type PubSub } from '../shared/ports/index.ts';
import type { Rooms } from '../shared/rooms/rooms.ts';
import { CloseCode } from './close-codes.ts';
import type { Connection } from './connection.ts';
import { encodedMessageFrame } from './room-stream.ts';

/**
 * This node's index of its connections by room and by user, and its pub/sub interest: it is
 * subscribed to a channel exactly while it holds a connection that needs it.
 */
export class Hub {
  private readonly byRoom = new Map<string, Set<Connection>>();
  private readonly byUser = new Map<string, Set<Connection>>();
  /** Kept in step with byUser: read on every upgrade, so it must not cost a scan. */
  private connectionTotal = 0;

  constructor(
    private readonly pubsub: PubSub,
    private readonly rooms: Rooms,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {
    pubsub.onMessage((channel, payload) => this.dispatch(channel, payload));
  }

  get connectionCount(): number {
    return this.connectionTotal;
  }

  *connections(): IterableIterator<Connection> {
    for (const set of this.byUser.values()) {
      yield* set;
    }
  }

  connectionsOf(userId: string): ReadonlySet<Connection> {
    return this.byUser.get(userId) ?? new Set();
  }

  async addUser(connection: Connection): Promise<void> {
    const before = this.byUser.get(connection.userId)?.size ?? 0;
    const first = this.addTo(this.byUser, connection.userId, connection);
    this.connectionTotal += (this.byUser.get(connection.userId)?.size ?? 0) - before;
    if (first) {
      await this.pubsub.subscribe(channels.user(connection.userId));
    }
  }

  async addRoom(connection: Connection, roomId: string): Promise<void> {
    if (this.addTo(this.byRoom, roomId, connection)) {
      await this.pubsub.subscribe(channels.room(roomId));
    }
  }

  removeRoom(connection: Connection, roomId: string): void {
    connection.rooms.delete(roomId);
    if (this.removeFrom(this.byRoom, roomId, connection)) {
      this.pubsub.unsubscribe(channels.room(roomId)).catch((error: unknown) => this.report(error));
    }
  }

  remove(connection: Connection): void {
    for (const roomId of [...connection.rooms.keys()]) {
      this.removeRoom(connection, roomId);
    }
    const before = this.byUser.get(connection.userId)?.size ?? 0;
    const last = this.removeFrom(this.byUser, connection.userId, connection);
    this.connectionTotal -= before - (this.byUser.get(connection.userId)?.size ?? 0);
    if (last) {
      this.pubsub
        .unsubscribe(channels.user(connection.userId))
        .catch((error: unknown) => this.report(error));
    }
  }

  /**
   * After a backplane outage: events published meanwhile are gone, so bring every local stream
   * up to its room's head from the store (membership and presence changes are refetched by
   * clients on reconnect).
   */
  async recover(store: MessageStore): Promise<void> {
    const roomIds = [...this.byRoom.keys()];
    const heads = await store.latest(roomIds);
    for (const roomId of roomIds) {
      const head = heads.get(roomId)?.seq ?? 0;
      for (const connection of this.byRoom.get(roomId) ?? []) {
        connection.rooms.get(roomId)?.catchUpTo(head);
      }
    }
  }

  private addTo(index: Map<string, Set<Connection>>, key: string, connection: Connection): boolean {
    let set = index.get(key);
    const first = set === undefined;
    if (!set) {
      set = new Set();
      index.set(key, set);
    }
    set.add(connection);
    return first;
  }

  private removeFrom(
    index: Map<string, Set<Connection>>,
    key: string,
    connection: Connection,
  ): boolean {
    const set = index.get(key);
    if (!set?.delete(connection)) {
      return false;
    }
    if (set.size === 0) {
      index.delete(key);
      return true;
    }
    return false;
  }

  private dispatch(channel: string, payload: string): void {
    try {
      const separator = channel.indexOf(':');
      const kind = channel.slice(0, separator);
      const id = channel.slice(separator + 1);
      if (kind === 'room') {
        this.onRoomEvent(id, JSON.parse(payload) as RoomEvent);
      } else if (kind === 'user') {
        this.onUserEvent(id, JSON.parse(payload) as UserEvent);
      }
    } catch (error) {
      this.report(error);
    }
  }

  private onRoomEvent(roomId: string, event: RoomEvent): void {
    const targets = this.byRoom.get(roomId);
    if (!targets) {
      return;
    }
    switch (event.t) {
      case 'message': {
        // Serialised and encoded once for every connection of the room.
        const frame = encodedMessageFrame(event.message);
        this.metrics.fanoutSeconds.observe(
          Math.max(0, Date.now() - Date.parse(event.message.createdAt)) / 1000,
        );
        this.metrics.deliveries.inc(targets.size);
        for (const connection of targets) {
          connection.rooms.get(roomId)?.live(event.message, frame);
        }
        return;
      }
      case 'typing': {
        const frame = Buffer.from(JSON.stringify({ type: 'typing', roomId, userId: event.userId }));
        for (const connection of targets) {
          if (connection.userId !== event.userId) {
            connection.sendText(frame);
          }
        }
        return;
      }
      case 'read': {
        const frame = Buffer.from(
          JSON.stringify({ type: 'read', roomId, userId: event.userId, seq: event.seq }),
        );
        for (const connection of targets) {
          connection.sendText(frame);
        }
        return;
      }
      case 'member_removed': {
        for (const connection of [...targets]) {
          if (connection.userId === event.userId) {
            this.removeRoom(connection, roomId);
            connection.send({ type: 'room_removed', roomId });
          }
        }
        return;
      }
    }
  }

  private onUserEvent(userId: string, event: UserEvent): void {
    const targets = this.byUser.get(userId);
    if (!targets) {
      return;
    }
    switch (event.t) {
      case 'room':
        void this.joinOrRefresh(userId, event.roomId, targets);
        return;
      case 'room_removed':
        for (const connection of targets) {
          if (connection.rooms.has(event.roomId)) {
            this.removeRoom(connection, event.roomId);
            connection.send({ type: 'room_removed', roomId: event.roomId });
          }
        }
        return;
      case 'presence': {
        const frame = JSON.stringify({
          type: 'presence',
          userId: event.userId,
          status: event.status,
          lastSeenAt: event.lastSeenAt,
        });
        for (const connection of targets) {
          connection.sendText(frame);
        }
        return;
      }
      case 'contacts_changed':
        for (const connection of targets) {
          connection.send({ type: 'contacts_changed' });
        }
        return;
      case 'revoked':
        for (const connection of [...targets]) {
          if (connection.sessionId === event.sessionId) {
            connection.close(CloseCode.tokenRevoked, 'logged out');
          }
        }
        return;
    }
  }

  /** A room the user joined or that changed: start streaming it and send its new state. */
  private async joinOrRefresh(
    userId: string,
    roomId: string,
    targets: Set<Connection>,
  ): Promise<void> {
    try {
      const view = await this.rooms.view(roomId, userId);
      const frame = JSON.stringify({ type: 'room', room: view });
      for (const connection of targets) {
        if (!connection.rooms.has(roomId)) {
          connection.joinRoom(roomId, view.lastSeq, false);
          await this.addRoom(connection, roomId);
        }
        connection.sendText(frame);
      }
    } catch (error) {
      // The user may have left again before the view was read: nothing to join.
      if (!(isAppError(error) && error.code === 'not_member')) {
        this.report(error);
      }
    }
  }

  private report(error: unknown): void {
    this.logger.error({ err: error }, 'realtime dispatch failed');
  }
}
