import { AppError } from '../errors.ts';

/**
 * The error every embedded adapter rejects with when its backing file or state cannot serve the
 * call (closed, disk full, EIO). The original failure stays reachable as `cause` for the logs.
 */
export function unavailable(message: string, cause?: unknown): AppError {
  const error = new AppError('unavailable', message, 1);
  if (cause !== undefined) {
    error.cause = cause;
  }
  return error;
}
