import * as v from 'valibot';
import { codePointLength } from '../encoding.ts';
import { DisplayNameSchema, isVisibleText, noControlCharacters, wellFormed } from '../schemas.ts';

/**
 * Profile validation, shared by the REST edge and the Social service so that both refuse the same
 * input the same way.
 */

export const MAX_STATUS_CHARACTERS = 140;
export const MAX_AVATAR_URL_LENGTH = 2048;
export const MAX_PREFIX_CHARACTERS = 32;
export const MAX_SEARCH_LIMIT = 50;
export const DEFAULT_SEARCH_LIMIT = 20;

/** Hosts for which a plain-http avatar is tolerated: development machines only. */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export const ProfileDisplayNameSchema = DisplayNameSchema;

export const StatusTextSchema = v.pipe(
  v.string(),
  wellFormed,
  noControlCharacters,
  v.trim(),
  // Empty clears the status; anything else must show.
  v.check((text) => text === '' || isVisibleText(text), 'must be empty or visible'),
  v.check(
    (text) => codePointLength(text) <= MAX_STATUS_CHARACTERS,
    `must be at most ${MAX_STATUS_CHARACTERS} characters`,
  ),
);

/** https anywhere, http only on loopback; no credentials, no whitespace, at most 2048 chars. */
export function isAllowedAvatarUrl(text: string): boolean {
  if (text.length > MAX_AVATAR_URL_LENGTH || /\s/.test(text) || /[^\x21-\x7e]/.test(text)) {
    return false;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  if (url.username !== '' || url.password !== '' || url.hostname === '') {
    return false;
  }
  return (
    url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))
  );
}

export const AvatarUrlSchema = v.nullable(
  v.pipe(
    v.string(),
    wellFormed,
    v.maxLength(MAX_AVATAR_URL_LENGTH, `must be at most ${MAX_AVATAR_URL_LENGTH} characters`),
    v.check(isAllowedAvatarUrl, 'must be an https URL (http only for localhost)'),
  ),
);

/**
 * Unknown keys are refused: a misspelt field would otherwise be a silent no-op. valibot's object
 * schemas take arrays for objects (`[]` would pass as `{}`), hence the explicit check.
 */
export const ProfilePatchSchema = v.pipe(
  v.unknown(),
  v.check((value) => !Array.isArray(value), 'must be an object'),
  v.strictObject({
    displayName: v.optional(ProfileDisplayNameSchema),
    statusText: v.optional(StatusTextSchema),
    avatarUrl: v.optional(AvatarUrlSchema),
    showLastSeen: v.optional(v.boolean()),
  }),
);

export const UsernamePrefixSchema = v.pipe(
  v.string(),
  wellFormed,
  noControlCharacters,
  v.check((text) => codePointLength(text) >= 1, 'must not be empty'),
  v.check(
    (text) => codePointLength(text) <= MAX_PREFIX_CHARACTERS,
    `must be at most ${MAX_PREFIX_CHARACTERS} characters`,
  ),
);

export const SearchLimitSchema = v.pipe(
  v.number(),
  v.integer(),
  v.minValue(1),
  v.maxValue(MAX_SEARCH_LIMIT),
);
