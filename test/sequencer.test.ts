import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { createSequencer } from '../shared/chat/sequencer.ts';
import { openFileMessageLog } from '../shared/embedded/message-log.ts';
import { openFileMessageStore } from '../shared/embedded/message-store.ts';
import type { AppError } from '../shared/errors.ts';
import type { ChatMessage, MessageLog, MessageStore } from '../shared/ports/index.ts';
import { tempDir } from './support/services.ts';

const ROOM = '01900000-0000-7000-8000-000000000001';
const USER = '01900000-0000-7000-8000-0000000000aa';

let dir: string;
let log: MessageLog;
let store: MessageStore;

/** The real embedded log, with appends that can be made to fail on demand. */
function flakyLog(inner: MessageLog) {
  const state = { failNext: 0 };
  const wrapped: MessageLog = {
    append(messages) {
      if (state.failNext > 0) {
        state.failNext--;
        return Promise.reject(new Error('disk on fire'));
      }
      return inner.append(messages);
    },
    consume: (group, handler) => inner.consume(group, handler),
    close: () => inner.close(),
  };
  return { log: wrapped, state };
}

before(async () => {
  dir = await tempDir();
  log = await openFileMessageLog({ dir: `${dir}/log` });
  store = await openFileMessageStore({ dir: `${dir}/store` });
});

after(async () => {
  await log.close();
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('sequencer', () => {
  it('hands out 1..n without gaps or repeats to concurrent sends, in one room', async () => {
    const accepted: ChatMessage[] = [];
    const sequencer = createSequencer({
      log,
      store,
      onAccepted: (m) => accepted.push(m),
      onStoreError: () => undefined,
    });
    const room = '01900000-0000-7000-8000-000000000010';
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        sequencer.submit({ roomId: room, senderId: USER, clientMsgId: `c${i}`, body: `b${i}` }),
      ),
    );
    const seqs = results.map((r) => r.message.seq).sort((a, b) => a - b);
    assert.deepEqual(
      seqs,
      Array.from({ length: 500 }, (_, i) => i + 1),
    );
    assert.deepEqual(
      accepted.map((m) => m.seq),
      seqs,
      'accepted callbacks come in seq order',
    );
    const stored = await store.page(room, { after: 0, limit: 1000 });
    assert.equal(stored.length, 500);
  });

  it('refuses with unavailable when the log fails, and reuses the seq it could not make durable', async () => {
    const flaky = flakyLog(log);
    const sequencer = createSequencer({
      log: flaky.log,
      store,
      onAccepted: () => undefined,
      onStoreError: () => undefined,
    });
    const first = await sequencer.submit({
      roomId: ROOM,
      senderId: USER,
      clientMsgId: 'ok-1',
      body: 'one',
    });
    assert.equal(first.message.seq, 1);
    flaky.state.failNext = 1;
    await assert.rejects(
      sequencer.submit({ roomId: ROOM, senderId: USER, clientMsgId: 'lost', body: 'two' }),
      (error: AppError) => error.code === 'unavailable',
    );
    const retried = await sequencer.submit({
      roomId: ROOM,
      senderId: USER,
      clientMsgId: 'lost',
      body: 'two',
    });
    assert.equal(retried.message.seq, 2, 'the failed seq was never handed out');
    assert.equal(retried.duplicate, false);
    const stored = await store.page(ROOM, { after: 0, limit: 10 });
    assert.deepEqual(
      stored.map((m) => m.clientMsgId),
      ['ok-1', 'lost'],
    );
  });

  it('answers repeats within one batch and across batches with the original, and refuses a changed body', async () => {
    const sequencer = createSequencer({
      log,
      store,
      onAccepted: () => undefined,
      onStoreError: () => undefined,
    });
    const room = '01900000-0000-7000-8000-000000000020';
    const [a, b] = await Promise.all([
      sequencer.submit({ roomId: room, senderId: USER, clientMsgId: 'same', body: 'x' }),
      sequencer.submit({ roomId: room, senderId: USER, clientMsgId: 'same', body: 'x' }),
    ]);
    assert.equal(a.message.seq, b.message.seq);
    assert.deepEqual([a.duplicate, b.duplicate].sort(), [false, true]);
    const later = await sequencer.submit({
      roomId: room,
      senderId: USER,
      clientMsgId: 'same',
      body: 'x',
    });
    assert.equal(later.duplicate, true);
    await assert.rejects(
      sequencer.submit({ roomId: room, senderId: USER, clientMsgId: 'same', body: 'y' }),
      (error: AppError) => error.code === 'idempotency_conflict',
    );
    // A fresh sequencer (a restart) still finds the original through the durable store.
    const restarted = createSequencer({
      log,
      store,
      onAccepted: () => undefined,
      onStoreError: () => undefined,
    });
    const afterRestart = await restarted.submit({
      roomId: room,
      senderId: USER,
      clientMsgId: 'same',
      body: 'x',
    });
    assert.equal(afterRestart.duplicate, true);
    assert.equal(afterRestart.message.seq, a.message.seq);
    const next = await restarted.submit({
      roomId: room,
      senderId: USER,
      clientMsgId: 'new',
      body: 'z',
    });
    assert.equal(next.message.seq, a.message.seq + 1);
  });

  it('acks what the log holds even when the store refuses it, and retries still find it', async () => {
    const room = '01900000-0000-7000-8000-000000000030';
    const storeErrors: unknown[] = [];
    let refuse = true;
    const stubbornStore: MessageStore = {
      ...store,
      put: (messages) => (refuse ? Promise.reject(new Error('store down')) : store.put(messages)),
      page: (r, q) => store.page(r, q),
      latest: (ids) => store.latest(ids),
      findByClientMsgId: (r, c) => store.findByClientMsgId(r, c),
      close: () => Promise.resolve(),
    };
    const sequencer = createSequencer({
      log,
      store: stubbornStore,
      onAccepted: () => undefined,
      onStoreError: (e) => storeErrors.push(e),
    });
    const sent = await sequencer.submit({
      roomId: room,
      senderId: USER,
      clientMsgId: 'kept',
      body: 'k',
    });
    assert.equal(sent.message.seq, 1);
    assert.equal(storeErrors.length, 1);
    const retry = await sequencer.submit({
      roomId: room,
      senderId: USER,
      clientMsgId: 'kept',
      body: 'k',
    });
    assert.equal(retry.duplicate, true);
    refuse = false;
    const next = await sequencer.submit({
      roomId: room,
      senderId: USER,
      clientMsgId: 'next',
      body: 'n',
    });
    assert.equal(next.message.seq, 2);
  });
});

describe('sequencer after an append that failed but landed', () => {
  it('settles the log before numbering again, so the landed message keeps its seq', async () => {
    const room = '01900000-0000-7000-8000-000000000040';
    // The append reaches the log and then reports failure, like a produce that timed out.
    let landThenFail = false;
    const uncertainLog: MessageLog = {
      async append(messages) {
        await log.append(messages);
        if (landThenFail) {
          landThenFail = false;
          throw new Error('request timed out');
        }
      },
      consume: (group, handler) => log.consume(group, handler),
      close: () => Promise.resolve(),
    };
    const persister = await log.consume('sequencer-settle-test', (batch) => store.put(batch));
    try {
      const sequencer = createSequencer({
        log: uncertainLog,
        store,
        onAccepted: () => undefined,
        onStoreError: () => undefined,
        settleLog: () => persister.caughtUp(),
      });
      const a = await sequencer.submit({
        roomId: room,
        senderId: USER,
        clientMsgId: 'a',
        body: 'A',
      });
      assert.equal(a.message.seq, 1);
      landThenFail = true;
      await assert.rejects(
        sequencer.submit({ roomId: room, senderId: USER, clientMsgId: 'b', body: 'B' }),
        (error: AppError) => error.code === 'unavailable',
      );
      const c = await sequencer.submit({
        roomId: room,
        senderId: USER,
        clientMsgId: 'c',
        body: 'C',
      });
      assert.equal(c.message.seq, 3, 'seq 2 belongs to the message that landed');
      const b = await sequencer.submit({
        roomId: room,
        senderId: USER,
        clientMsgId: 'b',
        body: 'B',
      });
      assert.deepEqual([b.message.seq, b.duplicate], [2, true]);
      const stored = await store.page(room, { after: 0, limit: 10 });
      assert.deepEqual(
        stored.map((m) => [m.seq, m.clientMsgId]),
        [
          [1, 'a'],
          [2, 'b'],
          [3, 'c'],
        ],
      );
    } finally {
      await persister.stop();
    }
  });
});
