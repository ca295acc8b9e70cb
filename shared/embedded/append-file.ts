import { mkdir, open, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isAppError } from '../errors.ts';
import { syncDirectory } from './atomic-file.ts';
import { readLines } from './lines.ts';
import type { Line } from './lines.ts';
import { unavailable } from './unavailable.ts';

/**
 * A place in an append file, always on a line boundary: the bytes and the records before it.
 * Readers keep their own and hand it back to `read`.
 */
export interface FilePosition {
  bytes: number;
  records: number;
}

export interface ReadLimits {
  maxRecords: number;
  /** Bytes read per call; a single longer record is still returned whole. */
  maxBytes: number;
}

export interface AppendFileOptions<T> {
  path: string;
  /** Turns one parsed JSON line back into a record; throws when the value is not one. */
  decode: (value: unknown) => T;
  /** Called for every record already in the file, in file order, while opening. */
  onRecord?: (record: T) => void;
}

/**
 * A durable JSON-lines file, one record per line, that only grows. One process owns a file.
 *
 * Invariant: everything before `end()` was fsynced and acknowledged; nothing after it is ever
 * read, so readers never see a record whose append could still fail.
 */
export interface AppendFile<T> {
  /**
   * Resolves with the end position after these records once they and every earlier append are
   * fsynced. Appends queued while a write is in flight share the next write and fsync. Rejects
   * with AppError('unavailable') when the disk fails; the records are then not in the file.
   */
  append(records: readonly T[]): Promise<FilePosition>;
  /** Durable records from `from` onwards, at least one when there is one. */
  read(from: FilePosition, limits: ReadLimits): Promise<{ records: T[]; next: FilePosition }>;
  /** The durable end. */
  end(): FilePosition;
  /** Calls `listener` after each durable write; returns the function that removes it. */
  watch(listener: () => void): () => void;
  /** Flushes queued appends, then closes. Later calls reject with AppError('unavailable'). */
  close(): Promise<void>;
}

interface PendingAppend {
  data: Buffer;
  count: number;
  resolve: (end: FilePosition) => void;
  reject: (error: unknown) => void;
}

const SCAN_CHUNK_BYTES = 1 << 20;
const NOT_JSON = Symbol('not json');

/**
 * Opens (creating it and its directory if needed) an append file and replays what it holds.
 * A torn tail, from a crash in the middle of a write, is cut off: those records were never
 * acknowledged. Unreadable lines followed by readable ones are corruption and fail the open.
 */
export async function openAppendFile<T>(options: AppendFileOptions<T>): Promise<AppendFile<T>> {
  const { path, decode } = options;
  const handle = await openHandle(path);
  let durable: FilePosition;
  try {
    durable = await recover(handle, options);
  } catch (error) {
    await handle.close();
    throw isAppError(error) ? error : unavailable(`cannot read ${path}`, error);
  }

  let queue: PendingAppend[] = [];
  let flushing: Promise<void> | undefined;
  /** A failed write may have left part of a batch after `durable`; cut it before writing on. */
  let tailDirty = false;
  let closing: Promise<void> | undefined;
  const listeners = new Set<() => void>();

  function append(records: readonly T[]): Promise<FilePosition> {
    if (closing) {
      return Promise.reject(unavailable(`${path} is closed`));
    }
    if (records.length === 0) {
      return Promise.resolve(durable);
    }
    let data: Buffer;
    try {
      data = Buffer.from(records.map((record) => `${JSON.stringify(record)}\n`).join(''));
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<FilePosition>((resolve, reject) => {
      queue.push({ data, count: records.length, resolve, reject });
      flushing ??= flush();
    });
  }

  /** Writes everything queued as one batch, again and again until the queue stays empty. */
  async function flush(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      try {
        await writeDurably(Buffer.concat(batch.map((pending) => pending.data)));
      } catch (error) {
        const failure = unavailable(`cannot append to ${path}`, error);
        for (const pending of batch) {
          pending.reject(failure);
        }
        continue;
      }
      let { bytes, records } = durable;
      for (const pending of batch) {
        bytes += pending.data.length;
        records += pending.count;
        pending.resolve({ bytes, records });
      }
      durable = { bytes, records };
      for (const listener of listeners) {
        try {
          listener();
        } catch {
          // A watcher's bug must not stall the appends queued behind this batch.
        }
      }
    }
    flushing = undefined;
  }

  async function writeDurably(data: Buffer): Promise<void> {
    if (tailDirty) {
      await handle.truncate(durable.bytes);
      tailDirty = false;
    }
    tailDirty = true;
    try {
      await writeAll(handle, data);
      await handle.datasync();
      tailDirty = false;
    } catch (error) {
      await handle.truncate(durable.bytes).then(
        () => {
          tailDirty = false;
        },
        () => undefined,
      );
      throw error;
    }
  }

  async function read(
    from: FilePosition,
    limits: ReadLimits,
  ): Promise<{ records: T[]; next: FilePosition }> {
    if (closing) {
      throw unavailable(`${path} is closed`);
    }
    const end = durable.bytes;
    if (from.bytes >= end) {
      return { records: [], next: from };
    }
    let lines: Line[];
    try {
      lines = await readLines(handle, from.bytes, end, limits.maxRecords, limits.maxBytes);
    } catch (error) {
      throw unavailable(`cannot read ${path}`, error);
    }
    const records = lines.map((line) => decode(JSON.parse(line.text)));
    const last = lines.at(-1);
    const next = last ? { bytes: last.end, records: from.records + lines.length } : from;
    return { records, next };
  }

  function end(): FilePosition {
    return durable;
  }

  function watch(listener: () => void): () => void {
    listeners.add(listener);
    return function unwatch() {
      listeners.delete(listener);
    };
  }

  function close(): Promise<void> {
    closing ??= (async function closeFile() {
      await flushing;
      listeners.clear();
      await handle.close();
    })();
    return closing;
  }

  return { append, read, end, watch, close };
}

async function openHandle(path: string): Promise<FileHandle> {
  try {
    await mkdir(dirname(path), { recursive: true });
    const existed = await stat(path).then(
      () => true,
      () => false,
    );
    const handle = await open(path, 'a+');
    if (!existed) {
      await syncDirectory(dirname(path));
    }
    return handle;
  } catch (error) {
    throw unavailable(`cannot open ${path}`, error);
  }
}

/** Replays every record and truncates a torn tail; returns the durable end. */
async function recover<T>(handle: FileHandle, options: AppendFileOptions<T>) {
  const { size } = await handle.stat();
  let valid: FilePosition = { bytes: 0, records: 0 };
  /** Start of the first line that is not JSON: the torn tail if nothing readable follows. */
  let tornAt: number | undefined;
  let cursor = 0;
  while (cursor < size) {
    const lines = await readLines(handle, cursor, size, Infinity, SCAN_CHUNK_BYTES);
    if (lines.length === 0) {
      break;
    }
    for (const line of lines) {
      const value = parseJson(line.text);
      if (value === NOT_JSON) {
        tornAt ??= cursor;
      } else if (tornAt !== undefined) {
        throw unavailable(`${options.path} is corrupt at byte ${tornAt}`);
      } else {
        replay(options, value, cursor);
        valid = { bytes: line.end, records: valid.records + 1 };
      }
      cursor = line.end;
    }
  }
  if (valid.bytes < size) {
    await handle.truncate(valid.bytes);
    await handle.sync();
  }
  return valid;
}

function replay<T>(options: AppendFileOptions<T>, value: unknown, offset: number): void {
  try {
    options.onRecord?.(options.decode(value));
  } catch (error) {
    throw unavailable(`${options.path} holds an invalid record at byte ${offset}`, error);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return NOT_JSON;
  }
}

async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await handle.write(data, written, data.length - written);
    written += bytesWritten;
  }
}
