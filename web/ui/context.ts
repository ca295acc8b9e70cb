import type {
  AtlasClient,
  FriendRequests,
  PublicUser,
  UserProfile,
} from '../../shared/sdk/index.ts';

type KnownUser = UserProfile & Partial<Pick<PublicUser, 'online' | 'lastSeenAt'>>;

/** State the views share: the client, who is who, friends, and the open room. */
export class AppContext {
  readonly client: AtlasClient;
  friends: PublicUser[] = [];
  requests: FriendRequests = { incoming: [], outgoing: [] };
  blocked: PublicUser[] = [];
  activeRoomId: string | undefined;
  #users = new Map<string, KnownUser>();
  #fetching = new Set<string>();
  #onUsersChanged: () => void;

  constructor(client: AtlasClient, onUsersChanged: () => void) {
    this.client = client;
    this.#onUsersChanged = onUsersChanged;
    this.#users.set(client.user.id, client.user);
  }

  get me(): string {
    return this.client.user.id;
  }

  remember(users: readonly KnownUser[]): void {
    for (const user of users) {
      this.#users.set(user.id, user);
    }
  }

  user(userId: string): KnownUser | undefined {
    return this.#users.get(userId);
  }

  /** A display name; unknown users are fetched and the views re-rendered when they arrive. */
  nameOf(userId: string): string {
    if (userId === this.me) {
      return 'You';
    }
    const user = this.#users.get(userId);
    if (user) {
      return user.displayName || user.username;
    }
    void this.#fetchUser(userId);
    return '…';
  }

  /** The @username, when known (fetched like `nameOf`). */
  usernameOf(userId: string): string | undefined {
    const user = this.#users.get(userId);
    if (!user) {
      void this.#fetchUser(userId);
    }
    return user?.username;
  }

  /** Presence is only shown while connected: offline, whatever we last heard is stale. */
  get connected(): boolean {
    return this.client.connectionState === 'open';
  }

  isOnline(userId: string): boolean {
    if (!this.connected) {
      return false;
    }
    return this.client.presenceOf(userId)?.online ?? this.#users.get(userId)?.online ?? false;
  }

  lastSeen(userId: string): string | null {
    return (
      this.client.presenceOf(userId)?.lastSeenAt ?? this.#users.get(userId)?.lastSeenAt ?? null
    );
  }

  isFriend(userId: string): boolean {
    return this.friends.some((f) => f.id === userId);
  }

  isBlocked(userId: string): boolean {
    return this.blocked.some((u) => u.id === userId);
  }

  /** Refetches friends, requests and blocks (at start and on contacts_changed). */
  async loadContacts(): Promise<void> {
    const [friends, requests, blocked] = await Promise.all([
      this.client.http.friends(),
      this.client.http.friendRequests(),
      this.client.http.blocks(),
    ]);
    this.friends = friends;
    this.requests = requests;
    this.blocked = blocked;
    this.remember([...friends, ...requests.incoming, ...requests.outgoing, ...blocked]);
    this.client.trackUsers(friends);
  }

  async #fetchUser(userId: string): Promise<void> {
    if (this.#fetching.has(userId)) {
      return;
    }
    this.#fetching.add(userId);
    try {
      const user = await this.client.http.user(userId);
      this.remember([user]);
      this.client.trackUsers([user]);
      this.#onUsersChanged();
    } catch {
      // Stays "…"; a later render asks again only if the entry is still missing.
      setTimeout(() => this.#fetching.delete(userId), 10_000);
      return;
    }
    this.#fetching.delete(userId);
  }
}
