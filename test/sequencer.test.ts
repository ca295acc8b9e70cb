import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { committedMessages, createRoomHeads, type RoomHeads } from '../shared/chat/room-heads.ts';
import { createSequencer, type SequencerOptions } from '../shared/chat/sequencer.ts';
import { migrate } from '../shared/db/migrate.ts';
import { openPgliteSql } from '../shared/db/pglite.ts';
import { openFileMessageLog } from '../shared/embedded/message-log.ts';
import { openFileMessageStore } from '../shared/embedded/message-store.ts';
import type { AppError } from '../shared/errors.ts';
import type { ChatMessage, MessageLog, MessageStore, Sql } from '../shared/ports/index.ts';
import { tempDir } from './support/services.ts';

const USER = '01900000-0000-7000-8000-0000000000aa';

let dir: string;
let sql: Sql;
let log: MessageLog;
let store: MessageStore;
let roomCount = 0;

function newRoom(): string {
  roomCount++;
  return `01900000-0000-7000-8000-${String(roomCount).padStart(12, '0')}`;
}

function roomHeads(lockRows?: boolean): RoomHeads {
  return createRoomHeads({
    sql,
    lockRows,
    storedHead: async (roomId) => (await store.latest([roomId])).get(roomId)?.seq ?? 0,
  });
}

function sequencerWith(overrides: Partial<SequencerOptions> = {}) {
  return createSequencer({
    log,
    store,
    heads: roomHeads(),
    onAccepted: () => undefined,
    onStoreError: () => undefined,
    ...overrides,
  });
}

/** What readers see: the committed messages of the room, as [seq, clientMsgId]. */
async function committedIn(roomId: string): Promise<Array<[number, string]>> {
  const page = await committedMessages(store, roomHeads()).page(roomId, {
    after: 0,
    limit: 1000,
  });
  return page.map((m) => [m.seq, m.clientMsgId]);
}

const send = (roomId: string, clientMsgId: string, body = clientMsgId) => ({
  roomId,
  senderId: USER,
  clientMsgId,
  body,
});

const isUnavailable = (error: AppError) => error.code === 'unavailable';

before(async () => {
  dir = await tempDir();
  sql = await openPgliteSql();
  await migrate(sql);
  log = await openFileMessageLog({ dir: `${dir}/log` });
  store = await openFileMessageStore({ dir: `${dir}/store` });
});

after(async () => {
  await log.close();
  await store.close();
  await sql.close();
  await rm(dir, { recursive: true, force: true });
});

describe('sequencer', () => {
  it('hands out 1..n without gaps or repeats to concurrent sends, in one room', async () => {
    const accepted: ChatMessage[] = [];
    const sequencer = sequencerWith({ onAccepted: (m) => accepted.push(m) });
    const room = newRoom();
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => sequencer.submit(send(room, `c${i}`))),
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
    assert.equal(results[0]?.message && 'fence' in results[0].message, false, 'no fence leaks');
    assert.equal((await committedIn(room)).length, 500);
  });

  it('numbers one room from several sequencers (processes) without gaps or repeats', async () => {
    const room = newRoom();
    // Each sequencer has its own lanes, as in separate processes; the head's row lock is what
    // keeps them apart.
    const fleet = Array.from({ length: 3 }, () => sequencerWith({ heads: roomHeads(true) }));
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => fleet[i % 3]!.submit(send(room, `f${i}`))),
    );
    const seqs = results.map((r) => r.message.seq).sort((a, b) => a - b);
    assert.deepEqual(
      seqs,
      Array.from({ length: 300 }, (_, i) => i + 1),
    );
    const committed = await committedIn(room);
    assert.deepEqual(
      committed.map(([seq]) => seq),
      seqs,
    );
    const byClient = new Map(results.map((r) => [r.message.clientMsgId, r.message.seq]));
    for (const [seq, clientMsgId] of committed) {
      assert.equal(byClient.get(clientMsgId), seq, `${clientMsgId} is stored at its acked seq`);
    }
  });

  it('refuses with unavailable when the log fails, and hands the same seq out again', async () => {
    const room = newRoom();
    let failNext = false;
    const sequencer = sequencerWith({
      log: {
        append(messages) {
          if (failNext) {
            failNext = false;
            return Promise.reject(new Error('disk on fire'));
          }
          return log.append(messages);
        },
        consume: (group, handler) => log.consume(group, handler),
        close: () => Promise.resolve(),
      },
    });
    assert.equal((await sequencer.submit(send(room, 'ok-1'))).message.seq, 1);
    failNext = true;
    await assert.rejects(sequencer.submit(send(room, 'lost')), isUnavailable);
    const retried = await sequencer.submit(send(room, 'lost'));
    assert.deepEqual([retried.message.seq, retried.duplicate], [2, false]);
    assert.deepEqual(await committedIn(room), [
      [1, 'ok-1'],
      [2, 'lost'],
    ]);
  });

  it('answers repeats within one batch and across batches with the original, and refuses a changed body', async () => {
    const room = newRoom();
    const sequencer = sequencerWith();
    const [a, b] = await Promise.all([
      sequencer.submit(send(room, 'same', 'x')),
      sequencer.submit(send(room, 'same', 'x')),
    ]);
    assert.equal(a.message.seq, 1);
    assert.deepEqual([b.message.seq, b.message.id, b.duplicate], [1, a.message.id, true]);
    const later = await sequencer.submit(send(room, 'same', 'x'));
    assert.deepEqual([later.message.id, later.duplicate], [a.message.id, true]);
    await assert.rejects(
      sequencer.submit(send(room, 'same', 'y')),
      (error: AppError) => error.code === 'idempotency_conflict',
    );
    // Another process (a fresh sequencer) knows the original too.
    const elsewhere = await sequencerWith({ heads: roomHeads(true) }).submit(
      send(room, 'same', 'x'),
    );
    assert.deepEqual([elsewhere.message.seq, elsewhere.duplicate], [1, true]);
    const next = await sequencer.submit(send(room, 'other'));
    assert.equal(next.message.seq, 2);
  });

  it('acks while the store refuses the write-through; readers wait for the persister, never see a hole', async () => {
    const room = newRoom();
    let storeDown = false;
    const errors: unknown[] = [];
    let writes = 0;
    const down = () => Promise.reject(new Error('store down'));
    const sequencer = sequencerWith({
      storePauseMs: 60_000,
      store: {
        ...store,
        put: (messages) => {
          writes++;
          return storeDown ? down() : store.put(messages);
        },
        findByClientMsgId: (roomId, clientMsgId) =>
          storeDown ? down() : store.findByClientMsgId(roomId, clientMsgId),
      },
      onStoreError: (error) => errors.push(error),
    });
    await sequencer.submit(send(room, 'one'));
    storeDown = true;
    const two = await sequencer.submit(send(room, 'two'));
    assert.deepEqual([two.message.seq, two.duplicate], [2, false]);
    assert.equal(errors.length, 1);
    // A retry is recognised from the receipts, without the store.
    const retry = await sequencer.submit(send(room, 'two'));
    assert.deepEqual(retry, { message: two.message, duplicate: true });
    await assert.rejects(
      sequencer.submit(send(room, 'two', 'changed')),
      (error: AppError) => error.code === 'idempotency_conflict',
    );

    // Seq 2 is committed but not stored: a reader that may not wait is refused, not answered
    // with a hole; below the hole is whole.
    const impatient = committedMessages(store, roomHeads(), { catchUpDelaysMs: [] });
    await assert.rejects(impatient.page(room, { after: 0, limit: 10 }), isUnavailable);
    await assert.rejects(impatient.page(room, { limit: 10 }), isUnavailable);
    assert.deepEqual(
      (await impatient.page(room, { before: 2, limit: 10 })).map((m) => m.seq),
      [1],
    );

    // The persisting consumer writes it from the log while a patient reader waits.
    storeDown = false;
    const reading = committedMessages(store, roomHeads()).page(room, { after: 0, limit: 10 });
    const persister = await log.consume('sequencer-persister-test', (batch) =>
      store.put(batch.filter((m) => m.roomId === room)),
    );
    assert.deepEqual(
      (await reading).map((m) => [m.seq, m.clientMsgId]),
      [
        [1, 'one'],
        [2, 'two'],
      ],
    );
    await persister.stop();
    // Within the pause after a refusal, sends do not wait on the store at all.
    const three = await sequencer.submit(send(room, 'three'));
    assert.equal(three.message.seq, 3);
    assert.equal(writes, 2, 'one write-through for "one", one refused for "two", none since');
  });
});

describe('sequencer after a batch that failed but left writes behind', () => {
  it('hides what an uncommitted batch left, then numbers over it with a higher fence', async () => {
    const room = newRoom();
    // The append and the store write land, then the head cannot be committed (a crash, or the
    // database going away at that moment): for the batch numbered after head 1.
    const real = roomHeads();
    const flakyHeads: RoomHeads = {
      heads: (ids) => real.heads(ids),
      memberHeads: (userId) => real.memberHeads(userId),
      advance: (roomId, numberBatch) =>
        real.advance(roomId, async (claim) => {
          const outcome = await numberBatch(claim);
          if (claim.head === 1 && outcome.head === 3) {
            throw new Error('connection lost');
          }
          return outcome;
        }),
    };
    const sequencer = sequencerWith({ heads: flakyHeads });
    // The first send runs alone; the next two queue behind it and share the failing batch.
    const sends = [
      sequencer.submit(send(room, 'a')),
      sequencer.submit(send(room, 'b')),
      sequencer.submit(send(room, 'b2')),
    ];
    const [a, b1, b2] = await Promise.allSettled(sends);
    assert.equal(a?.status, 'fulfilled');
    for (const refused of [b1, b2]) {
      assert.equal(refused?.status, 'rejected');
      assert.equal(
        refused.status === 'rejected' && (refused.reason as AppError).code,
        'unavailable',
      );
    }
    // Written to the store at seqs 2 and 3, but not committed: readers see neither.
    assert.equal((await store.page(room, { after: 0, limit: 10 })).length, 3);
    assert.deepEqual(await committedIn(room), [[1, 'a']]);
    const latest = await committedMessages(store, real).latest([room]);
    assert.equal(latest.get(room)?.seq, 1);

    const c = await sequencer.submit(send(room, 'c'));
    assert.equal(c.message.seq, 2, 'seq 2 is handed out again');
    const b = await sequencer.submit(send(room, 'b'));
    assert.deepEqual([b.message.seq, b.duplicate], [3, false], 'the retry is a new message');

    // Replaying the whole log (what the persisting consumer does after a restart) brings the
    // lower-fenced leftovers back in log order; the higher fences still win.
    const replay = await log.consume('sequencer-replay-test', (batch) =>
      store.put(batch.filter((m) => m.roomId === room)),
    );
    await replay.caughtUp();
    await replay.stop();
    assert.deepEqual(await committedIn(room), [
      [1, 'a'],
      [2, 'c'],
      [3, 'b'],
    ]);
    const again = await sequencer.submit(send(room, 'b2'));
    assert.deepEqual([again.message.seq, again.duplicate], [4, false]);
  });

  it('hides what an append that failed but landed left in the log', async () => {
    const room = newRoom();
    let landThenFail = false;
    const sequencer = sequencerWith({
      log: {
        async append(messages) {
          await log.append(messages);
          if (landThenFail) {
            landThenFail = false;
            throw new Error('request timed out');
          }
        },
        consume: (group, handler) => log.consume(group, handler),
        close: () => Promise.resolve(),
      },
    });
    await sequencer.submit(send(room, 'a'));
    landThenFail = true;
    await assert.rejects(sequencer.submit(send(room, 'ghost')), isUnavailable);
    const replay = await log.consume('sequencer-landed-test', (batch) =>
      store.put(batch.filter((m) => m.roomId === room)),
    );
    await replay.caughtUp();
    assert.deepEqual(await committedIn(room), [[1, 'a']], 'the landed append is not committed');
    const next = await sequencer.submit(send(room, 'next'));
    assert.equal(next.message.seq, 2);
    await replay.caughtUp();
    await replay.stop();
    assert.deepEqual(await committedIn(room), [
      [1, 'a'],
      [2, 'next'],
    ]);
  });
});
