export interface PresenceStatus {
  online: boolean;
}

/**
 * Who is online (Redis's role): a user is online while any of their connections, on any node,
 * is alive. Entries expire unless the owning node refreshes them, so a killed node's users go
 * offline within the TTL.
 */
export interface Presence {
  /** Records a live connection. Resolves true when this made the user go online. */
  connect(userId: string, connectionId: string, nodeId: string): Promise<boolean>;
  /** Removes a connection. Resolves true when this made the user go offline. */
  disconnect(userId: string, connectionId: string): Promise<boolean>;
  /** Refreshes the TTL of every connection a node holds. */
  refresh(
    nodeId: string,
    connections: ReadonlyArray<{ userId: string; connectionId: string }>,
  ): Promise<void>;
  /** Users in `userIds` that are online now. */
  online(userIds: readonly string[]): Promise<Set<string>>;
  /**
   * Users who went offline because their last connection expired (its node died or lost the
   * registry), at most `limit` of them. Each such transition is handed to exactly one caller,
   * once, so that one node announces it; a user who came back online first is not reported.
   */
  lapsed(limit: number): Promise<string[]>;
  close(): Promise<void>;
}
