import { isAtlasApiError, type AtlasErrorCode } from '../../shared/sdk/index.ts';

/** What a person should read for a failure; the code stays in `data-error-code` for tests. */
const READABLE: Partial<Record<AtlasErrorCode, string>> = {
  blocked: 'This person is not accepting messages from you.',
  forbidden: 'You are not allowed to do that.',
  not_member: 'You are no longer a member of this chat.',
  not_found: 'That no longer exists.',
  rate_limited: 'Slow down a little, then try again.',
  validation_failed: 'That input was not accepted.',
  unavailable: 'The server is busy; try again in a moment.',
  network_error: 'No connection to the server.',
};

export function errorCode(error: unknown): AtlasErrorCode | 'error' {
  return isAtlasApiError(error) ? error.code : 'error';
}

/** A sentence for an error code or a thrown value. */
export function readableError(error: unknown): string {
  const code = typeof error === 'string' ? error : errorCode(error);
  return READABLE[code as AtlasErrorCode] ?? `Something went wrong (${code}).`;
}
