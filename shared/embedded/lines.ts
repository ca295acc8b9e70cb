import type { FileHandle } from 'node:fs/promises';

const NEWLINE = 0x0a;

export interface Line {
  text: string;
  /** Offset just past this line's newline. */
  end: number;
}

/**
 * The complete (newline-terminated) lines in [from, end), at most `maxLines`, reading about
 * `chunkBytes` at a time. Returns at least one line when [from, end) holds one, growing the read
 * for lines longer than a chunk. An empty result means the range has no newline at all.
 */
export async function readLines(
  handle: FileHandle,
  from: number,
  end: number,
  maxLines: number,
  chunkBytes: number,
): Promise<Line[]> {
  let length = Math.min(chunkBytes, end - from);
  while (length > 0) {
    const buffer = Buffer.allocUnsafe(length);
    await readExactly(handle, buffer, from);
    const lines: Line[] = [];
    let start = 0;
    let newline = buffer.indexOf(NEWLINE, start);
    while (newline !== -1 && lines.length < maxLines) {
      lines.push({ text: buffer.toString('utf8', start, newline), end: from + newline + 1 });
      start = newline + 1;
      newline = buffer.indexOf(NEWLINE, start);
    }
    if (lines.length > 0 || from + length >= end) {
      return lines;
    }
    length = Math.min(length * 2, end - from);
  }
  return [];
}

async function readExactly(handle: FileHandle, buffer: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buffer.length) {
    const { bytesRead } = await handle.read(buffer, done, buffer.length - done, position + done);
    if (bytesRead === 0) {
      throw new Error(`unexpected end of file at byte ${position + done}`);
    }
    done += bytesRead;
  }
}
