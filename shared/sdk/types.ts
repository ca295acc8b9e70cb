/**
 * Wire shapes of the ATLAS protocol (docs/protocol.md) as the client sees them. Only types live
 * here, so the browser bundle carries none of the server's code.
 */
import type { ChatMessage } from '../ports/messages.ts';

export type { ChatMessage };

/** Fields every user shape has. */
export interface UserProfile {
  id: string;
  username: string;
  displayName: string;
  statusText: string | null;
  avatarUrl: string | null;
}

/** Another user's public profile, with presence. */
export interface PublicUser extends UserProfile {
  online: boolean;
  /** ISO-8601; null while online or when the user hides it. */
  lastSeenAt: string | null;
}

/** The caller's own profile. */
export interface OwnUser extends UserProfile {
  showLastSeen: boolean;
}

export interface AuthResult {
  user: OwnUser;
  accessToken: string;
  refreshToken: string;
}

export type RoomKind = 'dm' | 'group';

export interface Room {
  id: string;
  kind: RoomKind;
  /** A group's name; for a DM the other member's display name. */
  name: string;
  memberIds: string[];
  ownerId: string | null;
  lastSeq: number;
  readSeq: number;
  unread: number;
  lastMessage: ChatMessage | null;
  createdAt: string;
  /** DMs: the other member's id; null (or absent) for groups. */
  peerId?: string | null;
}

/** A room member as returned by `GET /api/rooms/:id`; `readSeq` only if the server provides it. */
export interface RoomMember extends PublicUser {
  readSeq?: number;
}

export interface RoomDetail extends Room {
  members: RoomMember[];
}

export interface MessagePage {
  messages: ChatMessage[];
  hasMore: boolean;
}

export interface SendResult {
  message: ChatMessage;
  duplicate: boolean;
}

export interface FriendRequests {
  incoming: PublicUser[];
  outgoing: PublicUser[];
}

export interface ProfilePatch {
  displayName?: string;
  statusText?: string;
  avatarUrl?: string;
  showLastSeen?: boolean;
}

export interface HistoryQuery {
  after?: number;
  before?: number;
  limit?: number;
}

/** The server's expiry stamp: ISO-8601 text or epoch (seconds or milliseconds). */
export type ExpiryStamp = string | number;

export interface HelloFrame {
  type: 'hello';
  userId: string;
  connectionId: string;
  expiresAt: ExpiryStamp;
  heartbeatMs: number;
}

export interface SyncedRoom {
  lastSeq: number;
  complete: boolean;
}

export type ServerFrame =
  | HelloFrame
  | { type: 'message'; message: ChatMessage }
  | {
      type: 'ack';
      roomId: string;
      clientMsgId: string;
      seq: number;
      duplicate: boolean;
      message: ChatMessage;
      ref?: string | null;
    }
  | {
      type: 'synced';
      rooms: Record<string, SyncedRoom>;
      /** Rooms in the cursors the user is not a member of (any more). */
      denied?: string[];
      ref?: string | null;
    }
  | { type: 'typing'; roomId: string; userId: string }
  | { type: 'read'; roomId: string; userId: string; seq: number }
  | { type: 'presence'; userId: string; status: 'online' | 'offline'; lastSeenAt: string | null }
  | { type: 'room'; room: Room }
  | { type: 'room_removed'; roomId: string }
  | { type: 'contacts_changed' }
  | { type: 'authed'; expiresAt: ExpiryStamp; ref?: string | null }
  | { type: 'pong'; ref?: string | null }
  | { type: 'error'; code: string; message: string; ref?: string | null };

export type ServerFrameType = ServerFrame['type'];

export type ClientFrame =
  | { type: 'send'; roomId: string; clientMsgId: string; body: string; ref?: string }
  | { type: 'sync'; cursors: Record<string, number>; limit?: number; ref?: string }
  | { type: 'typing'; roomId: string; ref?: string }
  | { type: 'read'; roomId: string; seq: number; ref?: string }
  | { type: 'auth'; accessToken: string; ref?: string }
  | { type: 'ping'; ref?: string };
