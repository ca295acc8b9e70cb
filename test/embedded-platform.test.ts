import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { committedMessages, createRoomHeads } from '../shared/chat/room-heads.ts';
import { bodyDigest, createSequencer } from '../shared/chat/sequencer.ts';
import { openEmbeddedPlatform } from '../shared/platform/embedded.ts';
import type { NumberedMessage, Platform } from '../shared/ports/index.ts';
import { tempDir } from './support/services.ts';

const ROOM = '01900000-0000-7000-8000-0000000000c1';
const USER = '01900000-0000-7000-8000-0000000000c2';

function logged(seq: number, clientMsgId: string, fence: number): NumberedMessage {
  return {
    id: `01900000-0000-7000-8000-0000000000d${seq}`,
    roomId: ROOM,
    seq,
    senderId: USER,
    body: clientMsgId,
    clientMsgId,
    createdAt: new Date().toISOString(),
    fence,
  };
}

function parts(platform: Platform) {
  const heads = createRoomHeads({ sql: platform.sql, storedHead: async () => 0 });
  const sequencer = createSequencer({
    log: platform.messageLog,
    store: platform.messageStore,
    heads,
    onAccepted: () => undefined,
    onStoreError: () => undefined,
  });
  return { heads, sequencer, reads: committedMessages(platform.messageStore, heads) };
}

describe('embedded platform', () => {
  it('replays what the log holds into the store at start, and shows only committed seqs', async () => {
    const dataDir = await tempDir();
    try {
      const first = await openEmbeddedPlatform({ dataDir, presenceTtlMs: 60_000 });
      // As if the process died twice in the middle of a batch: seq 1 was committed but never
      // reached the store; seq 2 reached the log but was never committed.
      const fence = async () =>
        Number(
          (await first.sql.query<{ f: string }>("SELECT nextval('message_fences') AS f"))[0]?.f,
        );
      const committed = logged(1, 'committed', await fence());
      await first.messageLog.append([committed]);
      await first.messageLog.append([logged(2, 'uncommitted', await fence())]);
      await first.sql.query('INSERT INTO room_heads (room_id, head) VALUES ($1, 1)', [ROOM]);
      await first.sql.query(
        `INSERT INTO message_receipts
           (room_id, client_msg_id, seq, message_id, sender_id, body_digest, created_at)
         VALUES ($1, $2, 1, $3, $4, $5, $6)`,
        [
          ROOM,
          committed.clientMsgId,
          committed.id,
          USER,
          await bodyDigest(committed.body),
          committed.createdAt,
        ],
      );
      await first.close();

      const second = await openEmbeddedPlatform({ dataDir, presenceTtlMs: 60_000 });
      const { sequencer, reads } = parts(second);
      const raw = await second.messageStore.page(ROOM, { after: 0, limit: 10 });
      assert.deepEqual(
        raw.map((m) => m.clientMsgId),
        ['committed', 'uncommitted'],
        'the persisting consumer replayed the log before serving',
      );
      const visible = await reads.page(ROOM, { after: 0, limit: 10 });
      assert.deepEqual(
        visible.map((m) => m.clientMsgId),
        ['committed'],
      );
      const retry = await sequencer.submit({
        roomId: ROOM,
        senderId: USER,
        clientMsgId: 'committed',
        body: 'committed',
      });
      assert.deepEqual([retry.message.seq, retry.duplicate], [1, true]);
      const next = await sequencer.submit({
        roomId: ROOM,
        senderId: USER,
        clientMsgId: 'next',
        body: 'after',
      });
      assert.equal(next.message.seq, 2, 'the uncommitted seq is handed out again');
      await second.close();

      // After another restart the replayed log still loses to the higher fence.
      const third = await openEmbeddedPlatform({ dataDir, presenceTtlMs: 60_000 });
      const after = await parts(third).reads.page(ROOM, { after: 0, limit: 10 });
      assert.deepEqual(
        after.map((m) => [m.seq, m.clientMsgId]),
        [
          [1, 'committed'],
          [2, 'next'],
        ],
      );
      await third.close();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
