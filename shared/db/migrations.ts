/**
 * The relational schema, as ordered migrations. Applied by `migrate()` in order, each once, in its
 * own transaction. Never edit a released migration: add a new one.
 */
export interface Migration {
  id: string;
  statements: readonly string[];
}

export const migrations: readonly Migration[] = [
  {
    id: '0001_accounts',
    statements: [
      `CREATE TABLE users (
        id uuid PRIMARY KEY,
        username text NOT NULL,
        username_key text NOT NULL UNIQUE,
        password_hash text NOT NULL,
        display_name text NOT NULL,
        status_text text NOT NULL DEFAULT '',
        avatar_url text,
        show_last_seen boolean NOT NULL DEFAULT true,
        last_seen_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE INDEX users_username_prefix ON users (username_key text_pattern_ops)`,
      `CREATE TABLE token_families (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users (id),
        revoked_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE refresh_tokens (
        token_hash text PRIMARY KEY,
        family_id uuid NOT NULL REFERENCES token_families (id),
        used_at timestamptz,
        expires_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id)`,
    ],
  },
  {
    id: '0002_social',
    statements: [
      `CREATE TABLE friend_requests (
        from_id uuid NOT NULL REFERENCES users (id),
        to_id uuid NOT NULL REFERENCES users (id),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (from_id, to_id)
      )`,
      `CREATE INDEX friend_requests_to ON friend_requests (to_id)`,
      `CREATE TABLE friendships (
        user_id uuid NOT NULL REFERENCES users (id),
        friend_id uuid NOT NULL REFERENCES users (id),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, friend_id)
      )`,
      `CREATE TABLE blocks (
        blocker_id uuid NOT NULL REFERENCES users (id),
        blocked_id uuid NOT NULL REFERENCES users (id),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (blocker_id, blocked_id)
      )`,
      `CREATE INDEX blocks_blocked ON blocks (blocked_id)`,
    ],
  },
  {
    id: '0003_rooms',
    statements: [
      `CREATE TABLE rooms (
        id uuid PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('dm', 'group')),
        name text NOT NULL DEFAULT '',
        owner_id uuid REFERENCES users (id),
        dm_key text UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE memberships (
        room_id uuid NOT NULL REFERENCES rooms (id),
        user_id uuid NOT NULL REFERENCES users (id),
        read_seq bigint NOT NULL DEFAULT 0,
        joined_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (room_id, user_id)
      )`,
      `CREATE INDEX memberships_user ON memberships (user_id)`,
    ],
  },
  {
    id: '0004_membership_posted',
    statements: [
      // Whether the member has written in the room: opening a DM alone does not make someone a
      // contact whose presence is shared; writing in it does.
      `ALTER TABLE memberships ADD COLUMN posted boolean NOT NULL DEFAULT false`,
    ],
  },
];
