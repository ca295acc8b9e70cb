import { errors, types } from 'cassandra-driver';
import { AppError, isAppError } from '../errors.ts';

const { responseErrorCodes: codes } = types;

/** Server answers that describe a mistake in the statement, not a server in trouble. */
const STATEMENT_MISTAKES = new Set<number>([
  codes.syntaxError,
  codes.invalid,
  codes.configError,
  codes.alreadyExists,
]);

export function cassandraUnavailable(message: string, cause?: unknown): AppError {
  const error = new AppError('unavailable', message, 1);
  if (cause !== undefined) {
    error.cause = cause;
  }
  return error;
}

/**
 * Runs one store operation and turns every driver or server failure (no host, timeouts,
 * overload, unavailable replicas, auth) into AppError('unavailable'). A statement the server
 * calls malformed, or an argument the driver cannot encode, is a bug in this code and escapes
 * unchanged.
 */
export async function guard<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isAppError(error) || !isDriverFailure(error)) {
      throw error;
    }
    throw cassandraUnavailable(`cassandra: ${what} failed`, error);
  }
}

function isDriverFailure(error: unknown): boolean {
  if (error instanceof errors.ArgumentError) {
    return false;
  }
  if (error instanceof errors.ResponseError) {
    return !STATEMENT_MISTAKES.has(error.code);
  }
  return error instanceof errors.DriverError;
}
