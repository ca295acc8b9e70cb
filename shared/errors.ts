/**
 * The closed list of error codes that ATLAS returns to clients, over HTTP and on the socket.
 * Codes are part of the public contract: clients and tests match on them, never on messages.
 */
export const ERROR_CODES = {
  bad_request: 400,
  invalid_json: 400,
  validation_failed: 400,
  payload_too_large: 413,
  unsupported_media_type: 415,
  headers_too_large: 431,
  unauthorized: 401,
  token_expired: 401,
  token_revoked: 401,
  invalid_credentials: 401,
  forbidden: 403,
  origin_not_allowed: 403,
  blocked: 403,
  not_member: 403,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  username_taken: 409,
  already_friends: 409,
  idempotency_conflict: 409,
  conflict: 409,
  rate_limited: 429,
  too_many_connections: 429,
  login_throttled: 429,
  unknown_frame: 400,
  internal: 500,
  unavailable: 503,
  over_capacity: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An expected failure with a stable code; anything else that escapes is a bug (`internal`). */
export class AppError extends Error {
  readonly code: ErrorCode;
  /** Seconds after which a retry may succeed (rate limits, unavailable dependencies). */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, retryAfterSeconds?: number) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  get status(): number {
    return ERROR_CODES[this.code];
  }
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}

/** Codes whose failure is transient: a client may retry the same request unchanged. */
export function isRetryable(code: ErrorCode): boolean {
  return code === 'unavailable' || code === 'rate_limited' || code === 'over_capacity';
}
