/** A user as anyone else sees them. `lastSeenAt` is null while online or when hidden. */
export interface PublicUser {
  id: string;
  username: string;
  displayName: string;
  statusText: string;
  avatarUrl: string | null;
  online: boolean;
  lastSeenAt: string | null;
}

/** A user as they see themselves. */
export interface OwnUser extends PublicUser {
  showLastSeen: boolean;
  createdAt: string;
}

export interface ProfilePatch {
  displayName?: string | undefined;
  statusText?: string | undefined;
  avatarUrl?: string | null | undefined;
  showLastSeen?: boolean | undefined;
}

export type FriendRequestOutcome = 'pending' | 'friends';

/** Profiles, friendships and blocks. Every method acts as `userId` and enforces its rights. */
export interface Social {
  me(userId: string): Promise<OwnUser>;
  updateMe(userId: string, patch: ProfilePatch): Promise<OwnUser>;
  /** `not_found` for unknown ids. */
  user(viewerId: string, userId: string): Promise<PublicUser>;
  search(viewerId: string, usernamePrefix: string, limit: number): Promise<PublicUser[]>;
  friends(userId: string): Promise<PublicUser[]>;
  friendRequests(userId: string): Promise<{ incoming: PublicUser[]; outgoing: PublicUser[] }>;
  /** Accepts at once when the target had already asked `userId`. */
  requestFriend(userId: string, targetId: string): Promise<FriendRequestOutcome>;
  acceptFriend(userId: string, requesterId: string): Promise<void>;
  declineFriend(userId: string, requesterId: string): Promise<void>;
  cancelFriendRequest(userId: string, targetId: string): Promise<void>;
  removeFriend(userId: string, friendId: string): Promise<void>;
  blocked(userId: string): Promise<PublicUser[]>;
  /** Also ends any friendship and pending requests between the two. */
  block(userId: string, targetId: string): Promise<void>;
  unblock(userId: string, targetId: string): Promise<void>;
  /** Friends plus everyone the user shares a DM with. */
  contacts(userId: string): Promise<PublicUser[]>;
  /**
   * Who is told about this user's presence: friends, and DM partners this user wrote to,
   * minus anyone blocked either way.
   */
  presenceAudience(userId: string): Promise<string[]>;
  /** The mirror: whose presence this user may see (friends, DM partners who wrote to them). */
  presenceVisibleTo(viewerId: string): Promise<string[]>;
  /** Both of the above in one read, for a connection coming online. */
  presenceCircle(userId: string): Promise<PresenceCircle>;
  /** The time a user went offline, shown to others unless hidden. */
  recordLastSeen(userId: string, at: Date): Promise<string | null>;
}

/** The two sides of a user's presence, each sorted by id. */
export interface PresenceCircle {
  /** Who is told when the user comes online or goes offline. */
  audience: string[];
  /** Whose presence the user may see. */
  visibleTo: string[];
}
