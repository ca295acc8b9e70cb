import { join } from 'node:path';
import type { ChatMessage, MessageStore, NumberedMessage, PageQuery } from '../ports/messages.ts';
import { openAppendFile } from './append-file.ts';
import { assertNumberedMessages, decodeNumberedMessage } from './chat-message.ts';
import { createRoomIndex } from './room-index.ts';
import { unavailable } from './unavailable.ts';

export interface FileMessageStoreOptions {
  /** Holds `messages.jsonl`; may be shared with the message log's files. */
  dir: string;
}

/**
 * The embedded message store: every put is a line in `dir/messages.jsonl`, replayed into a
 * per-room index on open. A put is visible to reads only once it is fsynced, so nothing a read
 * returned can vanish after a crash; reads are served from memory.
 *
 * TODO(embedded-scale): every message is held in memory and the file, repeats included, is never
 * compacted; open time and memory grow with all history.
 */
export async function openFileMessageStore(
  options: FileMessageStoreOptions,
): Promise<MessageStore> {
  const { dir } = options;
  if (typeof dir !== 'string' || dir === '') {
    throw new TypeError('openFileMessageStore: dir is required');
  }
  const index = createRoomIndex();
  const file = await openAppendFile({
    path: join(dir, 'messages.jsonl'),
    decode: decodeNumberedMessage,
    onRecord: index.upsert,
  });
  let closed = false;

  async function put(messages: readonly NumberedMessage[]): Promise<void> {
    assertNumberedMessages(messages);
    // Messages already held as they are (or overtaken by a higher fence) need no write: the
    // persisting consumer replays what the sequencer already stored, and that must not cost a
    // second fsync.
    const fresh = messages.filter((message) => !index.holds(message));
    if (fresh.length === 0) {
      return;
    }
    // Copied now: the caller may reuse its objects while the fsync runs.
    const copies = fresh.map((message) => ({ ...message }));
    await file.append(copies);
    // Appends resolve in file order, so memory applies repeats in the same order replay will.
    copies.forEach(index.upsert);
  }

  async function page(roomId: string, query: PageQuery): Promise<ChatMessage[]> {
    assertOpen();
    return index.page(roomId, query);
  }

  async function latest(roomIds: readonly string[]): Promise<Map<string, ChatMessage>> {
    assertOpen();
    const newest = new Map<string, ChatMessage>();
    for (const roomId of roomIds) {
      const message = index.latest(roomId);
      if (message) {
        newest.set(roomId, message);
      }
    }
    return newest;
  }

  async function findByClientMsgId(
    roomId: string,
    clientMsgId: string,
  ): Promise<ChatMessage | undefined> {
    assertOpen();
    return index.findByClientMsgId(roomId, clientMsgId);
  }

  async function close(): Promise<void> {
    closed = true;
    await file.close();
  }

  function assertOpen(): void {
    if (closed) {
      throw unavailable('message store is closed');
    }
  }

  return { put, page, latest, findByClientMsgId, close };
}
