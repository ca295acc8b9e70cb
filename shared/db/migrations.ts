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
  {
    id: '0005_room_heads',
    statements: [
      // The highest committed seq of each room: the one place that says which numbered messages
      // count. A row exists once the room's first batch was numbered; the sequencer holds it
      // locked while it numbers, writes and commits a batch (docs/sequencing.md).
      `CREATE TABLE room_heads (
        room_id text PRIMARY KEY,
        head bigint NOT NULL CHECK (head >= 0)
      )`,
      // Fences of numbered batches. A sequence, not a column: nextval is never rolled back, so
      // a batch whose transaction failed cannot hand its fence to the next one.
      `CREATE SEQUENCE message_fences`,
      // One row per committed send, written in the same statement as the head it moved: a
      // retried clientMsgId is answered from here, also while the message store is down.
      `CREATE TABLE message_receipts (
        room_id text NOT NULL,
        client_msg_id text NOT NULL,
        seq bigint NOT NULL,
        message_id text NOT NULL,
        sender_id text NOT NULL,
        body_digest text NOT NULL,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (room_id, client_msg_id)
      )`,
    ],
  },
];
