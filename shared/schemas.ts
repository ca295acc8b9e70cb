import * as v from 'valibot';
import { codePointLength, isWellFormedUnicode } from './encoding.ts';
import { isId } from './ids.ts';

/** Validation shared by REST and socket frames, so both refuse the same input the same way. */
export const IdSchema = v.pipe(v.string(), v.check(isId, 'must be an id'));

export const wellFormed = v.check<string, string>(
  isWellFormedUnicode,
  'must be well-formed Unicode (no lone surrogates)',
);

/**
 * PostgreSQL text cannot hold U+0000, no name has a use for C0 controls or DEL, and bidi
 * embedding/override/isolate controls let a name display as something else ("exe.png").
 */
export const noControlCharacters = v.check<string, string>(
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  (text) => !/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(text),
  'must not contain control or bidi override characters',
);

/**
 * Message text may hold tabs, line breaks and the bidi marks right-to-left writers use, but no
 * other C0/C1 control and no override (U+202D/U+202E), which makes "exe.pdf" out of "fdp.exe".
 */
const noBinaryControls = v.check<string, string>(
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  (text) => !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202d\u202e]/.test(text),
  'must not contain control characters other than tab and line breaks',
);

/**
 * Something a reader can see: at least one character that is not a space, an invisible format
 * character, a combining mark (marks alone draw nothing of their own) or the blank braille cell.
 */
export function isVisibleText(text: string): boolean {
  return /[^\s\p{Default_Ignorable_Code_Point}\p{M}\u2800]/u.test(text);
}

export const visible = v.check<string, string>(isVisibleText, 'must not be empty or blank');

export const MAX_BODY_CHARACTERS = 4000;

export const MessageBodySchema = v.pipe(
  v.string(),
  wellFormed,
  noBinaryControls,
  visible,
  v.check(
    (text) => codePointLength(text) <= MAX_BODY_CHARACTERS,
    `must be at most ${MAX_BODY_CHARACTERS} characters`,
  ),
);

export const ClientMsgIdSchema = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9_\-:.]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 _ - : .'),
);

export const SeqSchema = v.pipe(
  v.number(),
  v.integer(),
  v.minValue(0),
  v.maxValue(Number.MAX_SAFE_INTEGER),
);

export const UsernameSchema = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9_]{3,32}$/, 'must be 3-32 letters, digits or _'),
);

export const PasswordSchema = v.pipe(
  v.string(),
  wellFormed,
  v.minLength(8, 'must be at least 8 characters'),
  v.maxLength(256, 'must be at most 256 characters'),
);

export const DisplayNameSchema = v.pipe(
  v.string(),
  wellFormed,
  noControlCharacters,
  v.trim(),
  visible,
  v.maxLength(64, 'must be at most 64 characters'),
);

export const RoomNameSchema = v.pipe(
  v.string(),
  wellFormed,
  noControlCharacters,
  v.trim(),
  visible,
  v.maxLength(100, 'must be at most 100 characters'),
);
