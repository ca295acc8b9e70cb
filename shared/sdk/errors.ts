import { ERROR_CODES, type ErrorCode } from '../errors.ts';

/**
 * Codes only the client produces: the request never got a response (`network_error`), or the
 * response was not an ATLAS error body (`bad_response`).
 */
export type ClientErrorCode = 'network_error' | 'bad_response';

export type AtlasErrorCode = ErrorCode | ClientErrorCode;

/** A failed API call. Match on `code`; `message` is for humans and may change. */
export class AtlasApiError extends Error {
  readonly code: AtlasErrorCode;
  /** HTTP status, or 0 when no response arrived (network failure, socket error frame). */
  readonly status: number;
  /** From the `Retry-After` header, when the server sent one. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: AtlasErrorCode, message: string, status: number, retryAfterSeconds?: number) {
    super(message);
    this.name = 'AtlasApiError';
    this.code = code;
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export function isAtlasApiError(value: unknown): value is AtlasApiError {
  return value instanceof AtlasApiError;
}

/** Narrows a code from the wire to the closed list; anything else is `bad_response`. */
export function toErrorCode(value: unknown): AtlasErrorCode {
  if (typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, value)) {
    return value as ErrorCode;
  }
  return 'bad_response';
}

/** Codes meaning the login itself is gone: refreshing again cannot help. */
export function isSessionEnded(error: unknown): boolean {
  return (
    isAtlasApiError(error) &&
    (error.code === 'unauthorized' ||
      error.code === 'token_revoked' ||
      error.code === 'token_expired' ||
      error.code === 'invalid_credentials')
  );
}

/** Transient failures: the same request may succeed later. */
export function isTransient(error: unknown): boolean {
  if (!isAtlasApiError(error)) {
    return false;
  }
  return (
    error.code === 'network_error' ||
    error.code === 'unavailable' ||
    error.code === 'rate_limited' ||
    error.code === 'over_capacity' ||
    error.status >= 500
  );
}
