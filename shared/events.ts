import { channels, type ChatMessage, type PubSub } from './ports/index.ts';

/** Events on a room's channel: every node with a member of the room connected subscribes. */
export type RoomEvent =
  | { t: 'message'; message: ChatMessage }
  | { t: 'typing'; roomId: string; userId: string }
  | { t: 'read'; roomId: string; userId: string; seq: number }
  | { t: 'member_removed'; roomId: string; userId: string };

/** Events on a user's channel: every node with a connection of the user subscribes. */
export type UserEvent =
  | { t: 'room'; roomId: string }
  | { t: 'room_removed'; roomId: string }
  | { t: 'presence'; userId: string; status: 'online' | 'offline'; lastSeenAt: string | null }
  | { t: 'contacts_changed' }
  | { t: 'revoked'; sessionId: string };

/**
 * Publishes domain events for the realtime fleet. Publishing is best effort (pub/sub is at most
 * once): every event is also recoverable from durable state, so a failure is reported, not thrown.
 */
export interface Events {
  toRoom(roomId: string, event: RoomEvent): Promise<void>;
  toUser(userId: string, event: UserEvent): Promise<void>;
  toUsers(userIds: Iterable<string>, event: UserEvent): Promise<void>;
}

export function createEvents(pubsub: PubSub, report: (error: unknown) => void): Events {
  async function publish(channel: string, event: RoomEvent | UserEvent): Promise<void> {
    try {
      await pubsub.publish(channel, JSON.stringify(event));
    } catch (error) {
      report(error);
    }
  }
  return {
    toRoom: (roomId, event) => publish(channels.room(roomId), event),
    toUser: (userId, event) => publish(channels.user(userId), event),
    async toUsers(userIds, event) {
      const payload = JSON.stringify(event);
      await Promise.all(
        [...new Set(userIds)].map((userId) =>
          pubsub.publish(channels.user(userId), payload).catch(report),
        ),
      );
    },
  };
}
