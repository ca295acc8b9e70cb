import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { createSequencer } from '../shared/chat/sequencer.ts';
import { openEmbeddedPlatform } from '../shared/platform/embedded.ts';
import { tempDir } from './support/services.ts';

const ROOM = '01900000-0000-7000-8000-0000000000c1';
const USER = '01900000-0000-7000-8000-0000000000c2';

describe('embedded platform', () => {
  it('replays messages the log holds but the store lost before handing out the next seq', async () => {
    const dataDir = await tempDir();
    try {
      const first = await openEmbeddedPlatform({ dataDir, presenceTtlMs: 60_000 });
      // As if the process died between the log append and the store write.
      await first.messageLog.append([
        {
          id: '01900000-0000-7000-8000-0000000000d1',
          roomId: ROOM,
          seq: 1,
          senderId: USER,
          body: 'only in the log',
          clientMsgId: 'lost-1',
          createdAt: new Date().toISOString(),
        },
      ]);
      await first.close();

      const second = await openEmbeddedPlatform({ dataDir, presenceTtlMs: 60_000 });
      const held = await second.messageStore.page(ROOM, { after: 0, limit: 10 });
      assert.deepEqual(
        held.map((m) => m.clientMsgId),
        ['lost-1'],
      );
      const sequencer = createSequencer({
        log: second.messageLog,
        store: second.messageStore,
        onAccepted: () => undefined,
        onStoreError: () => undefined,
      });
      const next = await sequencer.submit({
        roomId: ROOM,
        senderId: USER,
        clientMsgId: 'next',
        body: 'after',
      });
      assert.equal(next.message.seq, 2);
      const retry = await sequencer.submit({
        roomId: ROOM,
        senderId: USER,
        clientMsgId: 'lost-1',
        body: 'only in the log',
      });
      assert.equal(retry.duplicate, true);
      assert.equal(retry.message.seq, 1);
      await second.close();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
