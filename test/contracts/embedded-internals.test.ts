import assert from 'node:assert/strict';
import { appendFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openAppendFile } from '../../shared/embedded/append-file.ts';
import { backoffDelayMs } from '../../shared/embedded/backoff.ts';
import { createMemoryCache } from '../../shared/embedded/cache.ts';
import { openFileMessageLog } from '../../shared/embedded/message-log.ts';
import type { ConsumerFailure } from '../../shared/embedded/message-log.ts';
import { openFileMessageStore } from '../../shared/embedded/message-store.ts';
import { createMemoryPubSub } from '../../shared/embedded/pubsub.ts';
import type { NumberedMessage } from '../../shared/ports/messages.ts';
import { chatMessage, makeTempDir, rejectsWithCode, removeDir, waitUntil } from './helpers.ts';

interface Row {
  n: number;
}

function decodeRow(value: unknown): Row {
  if (typeof value !== 'object' || value === null || !('n' in value)) {
    throw new TypeError('not a row');
  }
  return { n: Number(value.n) };
}

async function withDir(work: (dir: string) => Promise<void>): Promise<void> {
  const dir = await makeTempDir('atlas-embedded-');
  try {
    await work(dir);
  } finally {
    await removeDir(dir);
  }
}

async function rowsIn(path: string): Promise<number[]> {
  const rows: number[] = [];
  const file = await openAppendFile({ path, decode: decodeRow, onRecord: (r) => rows.push(r.n) });
  await file.close();
  return rows;
}

describe('append file', () => {
  it('writes concurrent appends in shared batches, each acked after its fsync', () =>
    withDir(async (dir) => {
      const file = await openAppendFile({ path: join(dir, 'rows.jsonl'), decode: decodeRow });
      let writes = 0;
      file.watch(() => {
        writes += 1;
      });
      const ends = await Promise.all(Array.from({ length: 100 }, (_, n) => file.append([{ n }])));
      assert.ok(writes <= 3, `100 concurrent appends took ${writes} writes`);
      assert.deepEqual(
        ends.map((end) => end.records),
        Array.from({ length: 100 }, (_, n) => n + 1),
        'each append resolves with its own end, in call order',
      );
      assert.equal(file.end().bytes, (await stat(join(dir, 'rows.jsonl'))).size);
      await file.close();
    }));

  it('cuts a torn last line on open and appends after it', () =>
    withDir(async (dir) => {
      const path = join(dir, 'rows.jsonl');
      await writeFile(path, '{"n":1}\n{"n":2}\n{"n":');
      const file = await openAppendFile({ path, decode: decodeRow });
      assert.deepEqual(file.end(), { bytes: 16, records: 2 });
      await file.append([{ n: 3 }]);
      await file.close();
      assert.equal(await readFile(path, 'utf8'), '{"n":1}\n{"n":2}\n{"n":3}\n');
      assert.deepEqual(await rowsIn(path), [1, 2, 3]);
    }));

  it('cuts unreadable lines that run to the end of the file', () =>
    withDir(async (dir) => {
      const path = join(dir, 'rows.jsonl');
      await writeFile(path, '{"n":1}\n\0\0\0\n\0\0');
      assert.deepEqual(await rowsIn(path), [1]);
      assert.equal(await readFile(path, 'utf8'), '{"n":1}\n');
    }));

  it('refuses to open a file corrupt in the middle', () =>
    withDir(async (dir) => {
      const path = join(dir, 'rows.jsonl');
      await writeFile(path, '{"n":1}\n{"n":\n{"n":3}\n');
      await rejectsWithCode(() => openAppendFile({ path, decode: decodeRow }), 'unavailable');
    }));

  it('reads records from a position, whole lines only, up to the durable end', () =>
    withDir(async (dir) => {
      const path = join(dir, 'rows.jsonl');
      const file = await openAppendFile({ path, decode: decodeRow });
      await file.append([{ n: 1 }, { n: 2 }, { n: 3 }]);
      const first = await file.read({ bytes: 0, records: 0 }, { maxRecords: 2, maxBytes: 3 });
      assert.deepEqual(first.records, [{ n: 1 }, { n: 2 }].slice(0, first.records.length));
      const rest = await file.read(first.next, { maxRecords: 10, maxBytes: 1 << 16 });
      assert.deepEqual([...first.records, ...rest.records], [{ n: 1 }, { n: 2 }, { n: 3 }]);
      assert.deepEqual(rest.next, file.end());
      await appendFile(path, '{"n":4}\n');
      const none = await file.read(rest.next, { maxRecords: 10, maxBytes: 1 << 16 });
      assert.deepEqual(none.records, [], 'bytes not appended through the file are not read');
      await file.close();
    }));

  it('rejects appends with unavailable when the disk is full, without crashing', async () => {
    const file = await openAppendFile({ path: '/dev/full', decode: decodeRow });
    await rejectsWithCode(() => file.append([{ n: 1 }]), 'unavailable');
    const results = await Promise.allSettled([file.append([{ n: 2 }]), file.append([{ n: 3 }])]);
    assert.deepEqual(
      results.map((result) => result.status),
      ['rejected', 'rejected'],
    );
    await file.close();
    await rejectsWithCode(() => file.append([{ n: 4 }]), 'unavailable');
  });
});

describe('file message log', () => {
  it('reports handler failures with growing attempts and keeps consuming', () =>
    withDir(async (dir) => {
      const failures: ConsumerFailure[] = [];
      const log = await openFileMessageLog({
        dir,
        retryBaseMs: 1,
        retryMaxMs: 4,
        onError: (_error, failure) => failures.push(failure),
      });
      let calls = 0;
      const consumer = await log.consume('group-1', async () => {
        calls += 1;
        if (calls <= 3) {
          throw new Error('transient');
        }
      });
      await log.append([chatMessage('room-a', 1)]);
      await waitUntil('the handler succeeded', () => calls === 4);
      assert.deepEqual(
        failures.map((f) => [f.stage, f.attempt]),
        [
          ['handle', 1],
          ['handle', 2],
          ['handle', 3],
        ],
      );
      await consumer.stop();
      await log.close();
    }));

  it('refuses malformed messages before writing, so the file always reopens', () =>
    withDir(async (dir) => {
      const log = await openFileMessageLog({ dir });
      const bad = { ...chatMessage('room-a', 1), seq: 0 };
      await assert.rejects(log.append([chatMessage('room-a', 1), bad]), TypeError);
      await log.append([chatMessage('room-a', 1)]);
      await log.close();
      const reopened = await openFileMessageLog({ dir });
      await reopened.close();
      const store = await openFileMessageStore({ dir });
      const noCreatedAt: Record<string, unknown> = { ...chatMessage('room-a', 2) };
      delete noCreatedAt.createdAt;
      await assert.rejects(store.put([noCreatedAt as unknown as NumberedMessage]), TypeError);
      await store.close();
      await (await openFileMessageStore({ dir })).close();
    }));

  it('allows one consumer per group at a time', () =>
    withDir(async (dir) => {
      const log = await openFileMessageLog({ dir });
      const consumer = await log.consume('group-1', async () => undefined);
      await assert.rejects(
        log.consume('group-1', async () => undefined),
        TypeError,
      );
      await consumer.stop();
      const again = await log.consume('group-1', async () => undefined);
      await again.stop();
      await log.close();
      await rejectsWithCode(() => log.consume('group-2', async () => undefined), 'unavailable');
    }));
});

describe('backoff', () => {
  it('doubles from the base, caps at the max, and keeps at least half', () => {
    const options = { baseMs: 100, maxMs: 1_000 };
    assert.equal(
      backoffDelayMs(1, options, () => 0),
      50,
    );
    assert.equal(
      backoffDelayMs(1, options, () => 1),
      100,
    );
    assert.equal(
      backoffDelayMs(3, options, () => 1),
      400,
    );
    assert.equal(
      backoffDelayMs(50, options, () => 1),
      1_000,
    );
    assert.equal(
      backoffDelayMs(50, options, () => 0),
      500,
    );
  });
});

describe('memory cache', () => {
  it('evicts the oldest written key past maxEntries', async () => {
    const cache = createMemoryCache({ maxEntries: 2 });
    await cache.set('a', '1', 60);
    await cache.set('b', '2', 60);
    await cache.set('a', '1 again', 60);
    await cache.set('c', '3', 60);
    assert.equal(await cache.get('b'), undefined);
    assert.equal(await cache.get('a'), '1 again');
    assert.equal(await cache.get('c'), '3');
    await cache.close();
  });
});

describe('memory pubsub', () => {
  it('reports a throwing listener to onError', async () => {
    const errors: string[] = [];
    const pubsub = createMemoryPubSub({ onError: (_error, channel) => errors.push(channel) });
    pubsub.onMessage(() => {
      throw new Error('listener bug');
    });
    await pubsub.subscribe('room:a');
    await pubsub.publish('room:a', 'x');
    await waitUntil('the error is reported', () => errors.length === 1);
    assert.deepEqual(errors, ['room:a']);
    await pubsub.close();
  });
});
