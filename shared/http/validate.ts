import type { Context } from 'hono';
import * as v from 'valibot';
import { AppError } from '../errors.ts';

/** Most bytes of JSON any API accepts. */
export const MAX_JSON_BODY_BYTES = 64 * 1024;

function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues
    .slice(0, 5)
    .map((issue) => {
      const path = v.getDotPath(issue);
      // valibot words an unknown key as "Expected never"; say what it means.
      const message =
        issue.type === 'strict_object' && issue.expected === 'never'
          ? 'unknown field'
          : issue.message;
      return path ? `${path}: ${message}` : message;
    })
    .join('; ');
}

export function parseWith<S extends v.GenericSchema>(schema: S, value: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, value);
  if (!result.success) {
    throw new AppError('validation_failed', describeIssues(result.issues));
  }
  return result.output;
}

/**
 * Reads and validates a JSON body. Oversize bodies are `payload_too_large` whether or not a
 * Content-Length was sent; unparsable ones `invalid_json`; wrong shapes `validation_failed`.
 */
export async function readJson<S extends v.GenericSchema>(
  c: Context,
  schema: S,
): Promise<v.InferOutput<S>> {
  const type = c.req.header('content-type');
  if (type !== undefined && !/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
    throw new AppError('unsupported_media_type', 'send the body as application/json');
  }
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > MAX_JSON_BODY_BYTES) {
    throw new AppError('payload_too_large', `bodies are limited to ${MAX_JSON_BODY_BYTES} bytes`);
  }
  const raw = await readLimited(c.req.raw, MAX_JSON_BODY_BYTES);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new AppError('invalid_json', 'the body is not valid JSON');
  }
  return parseWith(schema, value);
}

async function readLimited(request: Request, maxBytes: number): Promise<string> {
  if (!request.body) {
    return '';
  }
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      break;
    }
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new AppError('payload_too_large', `bodies are limited to ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new AppError('invalid_json', 'the body is not valid UTF-8');
  }
}

export function readQuery<S extends v.GenericSchema>(c: Context, schema: S): v.InferOutput<S> {
  return parseWith(schema, c.req.query());
}

export function readParam<S extends v.GenericSchema>(
  c: Context,
  name: string,
  schema: S,
): v.InferOutput<S> {
  return parseWith(schema, c.req.param(name));
}
