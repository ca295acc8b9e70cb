import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs with snake_case fields. Tokens, passwords and message bodies must never
 * be logged; the redaction list is a second line of defence, not a licence to pass them in.
 */
export function createLogger(level: string, name: string): Logger {
  return pino({
    level,
    name,
    base: { role: name },
    redact: {
      paths: [
        'password',
        'body',
        'access_token',
        'accessToken',
        'refreshToken',
        'token',
        '*.password',
        '*.body',
        '*.accessToken',
        '*.refreshToken',
        'req.headers.authorization',
        'req.url',
      ],
      censor: '[redacted]',
    },
  });
}
