import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AppError, type ErrorCode } from '../errors.ts';

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

export function errorResponse(c: Context, error: AppError): Response {
  if (error.retryAfterSeconds !== undefined) {
    c.header('Retry-After', String(Math.max(1, Math.ceil(error.retryAfterSeconds))));
  }
  const body: ErrorBody = { error: { code: error.code, message: error.message } };
  return c.json(body, error.status as ContentfulStatusCode);
}

/**
 * The one place where failures become HTTP responses. Domain errors keep their code; anything
 * unexpected is logged by the caller-supplied reporter and answered as `internal`.
 */
export function createErrorHandler(
  report: (error: unknown, c: Context) => void,
  count: (code: ErrorCode) => void = () => undefined,
) {
  return function handleError(error: Error, c: Context): Response {
    if (error instanceof AppError) {
      count(error.code);
      return errorResponse(c, error);
    }
    if (error instanceof HTTPException) {
      const code: ErrorCode = error.status === 413 ? 'payload_too_large' : 'bad_request';
      return errorResponse(c, new AppError(code, error.message || 'bad request'));
    }
    report(error, c);
    return errorResponse(c, new AppError('internal', 'internal error'));
  };
}

export function notFound(c: Context): Response {
  return errorResponse(c, new AppError('not_found', 'no such route'));
}
