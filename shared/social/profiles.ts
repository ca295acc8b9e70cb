import type { OwnUser, PublicUser } from './types.ts';

/** The stored facts about a user, before presence and the viewer's rights are applied. */
export interface ProfileRecord {
  id: string;
  username: string;
  displayName: string;
  statusText: string;
  avatarUrl: string | null;
  showLastSeen: boolean;
  /** The last time the user went offline, whether or not they show it. */
  lastSeenAt: string | null;
  createdAt: string;
}

export interface ProfileRow {
  id: string;
  username: string;
  display_name: string;
  status_text: string;
  avatar_url: string | null;
  show_last_seen: boolean;
  last_seen_at: Date | string | null;
  created_at: Date | string;
}

/** The columns every profile query selects, for `toRecord`; `u` is the users table. */
export const PROFILE_COLUMNS = `u.id, u.username, u.display_name, u.status_text, u.avatar_url,
  u.show_last_seen, u.last_seen_at, u.created_at`;

function isoDate(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : new Date(value).toISOString();
}

export function toRecord(row: ProfileRow): ProfileRecord {
  return {
    id: row.id,
    username: row.username,
    displayName: row.display_name,
    statusText: row.status_text,
    avatarUrl: row.avatar_url,
    showLastSeen: row.show_last_seen,
    lastSeenAt: row.last_seen_at === null ? null : isoDate(row.last_seen_at),
    createdAt: isoDate(row.created_at),
  };
}

/**
 * What a viewer sees. `hidden` is set when the two block each other either way: then neither sees
 * the other's presence. The last-seen time shows only while offline and when the user allows it.
 */
export function toPublicUser(record: ProfileRecord, online: boolean, hidden: boolean): PublicUser {
  const visiblyOnline = online && !hidden;
  return {
    id: record.id,
    username: record.username,
    displayName: record.displayName,
    statusText: record.statusText,
    avatarUrl: record.avatarUrl,
    online: visiblyOnline,
    lastSeenAt: !online && !hidden && record.showLastSeen ? record.lastSeenAt : null,
  };
}

export function toOwnUser(record: ProfileRecord, online: boolean): OwnUser {
  return {
    ...toPublicUser(record, online, false),
    showLastSeen: record.showLastSeen,
    createdAt: record.createdAt,
  };
}

/** Escapes LIKE's wildcards (and its escape character) so a prefix matches literally. */
export function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, '\\$&')}%`;
}
