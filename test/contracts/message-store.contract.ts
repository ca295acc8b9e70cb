import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { ChatMessage, MessageStore } from '../../shared/ports/messages.ts';
import { withoutFence } from '../../shared/embedded/chat-message.ts';
import { chatMessage, makeTempDir, rejectsWithCode, removeDir } from './helpers.ts';

/** The message as reads return it: without the fence it was written with. */
const asRead = (...args: Parameters<typeof chatMessage>) => withoutFence(chatMessage(...args));

export interface MessageStoreContractOptions {
  /** Reopening on the same dir keeps every message (every real store). */
  durable: boolean;
}

/**
 * The MessageStore contract. `open(dir)` opens a store whose state lives under (or is named
 * after) `dir`; every test gets a fresh dir, and opening the same dir again must see the same data.
 */
export function messageStoreContract(
  name: string,
  open: (dir: string) => Promise<MessageStore>,
  options: MessageStoreContractOptions,
): void {
  describe(`MessageStore contract: ${name}`, { timeout: 20_000 }, () => {
    let dir: string;
    let stores: MessageStore[] = [];

    beforeEach(async () => {
      dir = await makeTempDir();
    });

    afterEach(async () => {
      await Promise.allSettled(stores.map((store) => store.close()));
      stores = [];
      await removeDir(dir);
    });

    async function openStore(): Promise<MessageStore> {
      const store = await open(dir);
      stores.push(store);
      return store;
    }

    /** A store holding seq 1..count of `roomId`, put in shuffled order. */
    async function storeWith(count: number, roomId = 'room-a'): Promise<MessageStore> {
      const store = await openStore();
      const messages = Array.from({ length: count }, (_, i) => chatMessage(roomId, i + 1));
      await store.put(messages.filter((_, i) => i % 2 === 1));
      await store.put(messages.filter((_, i) => i % 2 === 0).reverse());
      return store;
    }

    function seqs(messages: readonly ChatMessage[]): number[] {
      return messages.map((message) => message.seq);
    }

    it('returns what was put, unchanged, in ascending seq order', async () => {
      const store = await openStore();
      const messages = [3, 1, 2].map((seq) => chatMessage('room-a', seq));
      await store.put(messages);
      const page = await store.page('room-a', { limit: 10 });
      assert.deepEqual(
        page,
        [1, 2, 3].map((seq) => asRead('room-a', seq)),
      );
    });

    it('treats put as an idempotent upsert by (roomId, seq)', async () => {
      const store = await openStore();
      await store.put([chatMessage('room-a', 1), chatMessage('room-a', 2)]);
      await store.put([chatMessage('room-a', 2), chatMessage('room-a', 1)]);
      assert.deepEqual(await store.page('room-a', { limit: 10 }), [
        asRead('room-a', 1),
        asRead('room-a', 2),
      ]);
      // A seq is only ever written with another message by a later batch, with a higher fence.
      await store.put([chatMessage('room-a', 2, { body: 'edited', fence: 2 })]);
      const page = await store.page('room-a', { limit: 10 });
      assert.deepEqual(seqs(page), [1, 2]);
      assert.equal(page[1]?.body, 'edited', 'the higher fence replaces');
    });

    it('keeps rooms apart', async () => {
      const store = await openStore();
      await store.put([
        chatMessage('room-a', 1),
        chatMessage('room-b', 1),
        chatMessage('room-b', 2),
      ]);
      assert.deepEqual(await store.page('room-a', { limit: 10 }), [asRead('room-a', 1)]);
      assert.deepEqual(seqs(await store.page('room-b', { limit: 10 })), [1, 2]);
    });

    it('pages without bounds: the newest `limit` (the latest page), ascending', async () => {
      const store = await storeWith(10);
      assert.deepEqual(seqs(await store.page('room-a', { limit: 3 })), [8, 9, 10]);
      assert.deepEqual(seqs(await store.page('room-a', { limit: 50 })).length, 10);
    });

    it('pages forward with `after`: the oldest `limit` above it', async () => {
      const store = await storeWith(10);
      assert.deepEqual(seqs(await store.page('room-a', { after: 3, limit: 3 })), [4, 5, 6]);
      assert.deepEqual(seqs(await store.page('room-a', { after: 8, limit: 5 })), [9, 10]);
      assert.deepEqual(seqs(await store.page('room-a', { after: 0, limit: 2 })), [1, 2]);
      assert.deepEqual(await store.page('room-a', { after: 10, limit: 5 }), []);
      assert.deepEqual(await store.page('room-a', { after: 99, limit: 5 }), []);
    });

    it('pages backward with `before` only: the newest `limit` below it, ascending', async () => {
      const store = await storeWith(10);
      assert.deepEqual(seqs(await store.page('room-a', { before: 8, limit: 3 })), [5, 6, 7]);
      assert.deepEqual(seqs(await store.page('room-a', { before: 3, limit: 5 })), [1, 2]);
      assert.deepEqual(seqs(await store.page('room-a', { before: 11, limit: 2 })), [9, 10]);
      const newest = await store.page('room-a', { before: Number.MAX_SAFE_INTEGER, limit: 4 });
      assert.deepEqual(seqs(newest), [7, 8, 9, 10]);
      assert.deepEqual(await store.page('room-a', { before: 1, limit: 5 }), []);
    });

    it('pages between `after` and `before`: the oldest `limit` in between', async () => {
      const store = await storeWith(10);
      assert.deepEqual(
        seqs(await store.page('room-a', { after: 2, before: 9, limit: 3 })),
        [3, 4, 5],
      );
      const all = await store.page('room-a', { after: 2, before: 9, limit: 50 });
      assert.deepEqual(seqs(all), [3, 4, 5, 6, 7, 8]);
      assert.deepEqual(await store.page('room-a', { after: 4, before: 5, limit: 5 }), []);
    });

    it('pages an empty or unknown room as empty', async () => {
      const store = await openStore();
      assert.deepEqual(await store.page('nobody', { limit: 10 }), []);
      assert.deepEqual(await store.page('nobody', { before: 5, limit: 10 }), []);
      assert.deepEqual(await store.page('nobody', { after: 5, limit: 10 }), []);
    });

    it('pages with limit 1 in both directions', async () => {
      const store = await storeWith(5);
      assert.deepEqual(seqs(await store.page('room-a', { limit: 1 })), [5]);
      assert.deepEqual(seqs(await store.page('room-a', { after: 2, limit: 1 })), [3]);
      assert.deepEqual(seqs(await store.page('room-a', { before: 5, limit: 1 })), [4]);
    });

    it('finds a message by (roomId, clientMsgId)', async () => {
      const store = await openStore();
      const shared = { clientMsgId: 'same-client-id' };
      await store.put([chatMessage('room-a', 1, shared), chatMessage('room-b', 7, shared)]);
      assert.deepEqual(
        await store.findByClientMsgId('room-a', 'same-client-id'),
        asRead('room-a', 1, shared),
      );
      assert.equal((await store.findByClientMsgId('room-b', 'same-client-id'))?.seq, 7);
      assert.equal(await store.findByClientMsgId('room-a', 'unknown'), undefined);
      assert.equal(await store.findByClientMsgId('room-c', 'same-client-id'), undefined);
    });

    it('answers latest with the highest seq of each room that has one', async () => {
      const store = await openStore();
      await store.put([
        chatMessage('room-a', 3),
        chatMessage('room-a', 1),
        chatMessage('room-b', 1),
      ]);
      await store.put([chatMessage('room-a', 2)]);
      const latest = await store.latest(['room-a', 'room-b', 'room-empty']);
      assert.deepEqual([...latest.keys()].sort(), ['room-a', 'room-b']);
      assert.deepEqual(latest.get('room-a'), asRead('room-a', 3));
      assert.equal(latest.get('room-b')?.seq, 1);
      assert.equal((await store.latest([])).size, 0);
    });

    it('keeps the higher fence of a seq, whatever order the writes come in', async () => {
      const store = await openStore();
      const leftover = chatMessage('room-a', 2, { clientMsgId: 'left', body: 'left', fence: 5 });
      const winner = chatMessage('room-a', 2, { clientMsgId: 'won', body: 'won', fence: 9 });
      await store.put([chatMessage('room-a', 1, { fence: 4 }), leftover]);
      await store.put([winner]);
      // A replay of the older write arrives after the newer one.
      await store.put([leftover]);
      await store.put([chatMessage('room-a', 3, { fence: 7 }), winner]);
      assert.deepEqual(await store.page('room-a', { limit: 10 }), [
        asRead('room-a', 1, { fence: 4 }),
        withoutFence(winner),
        asRead('room-a', 3, { fence: 7 }),
      ]);
      assert.deepEqual(await store.findByClientMsgId('room-a', 'won'), withoutFence(winner));
      assert.equal(
        await store.findByClientMsgId('room-a', 'left'),
        undefined,
        'a replaced message is not found by its clientMsgId',
      );
      // Within one put, too, the higher fence wins.
      await store.put([
        chatMessage('room-a', 4, { body: 'high', fence: 8 }),
        chatMessage('room-a', 4, { body: 'low', fence: 6 }),
      ]);
      assert.equal((await store.page('room-a', { after: 3, limit: 1 }))[0]?.body, 'high');
    });

    it('finds a clientMsgId written at several seqs at the one that still carries it', async () => {
      const store = await openStore();
      const again = { clientMsgId: 'again', body: 'again' };
      // Written at seq 1 by a batch that failed, then at seq 2; seq 1 went to another message.
      await store.put([chatMessage('room-a', 1, { ...again, fence: 1 })]);
      await store.put([
        chatMessage('room-a', 1, { fence: 2 }),
        chatMessage('room-a', 2, { ...again, fence: 2 }),
      ]);
      assert.equal((await store.findByClientMsgId('room-a', 'again'))?.seq, 2);
    });

    it('stores every message of many concurrent puts', async () => {
      const store = await openStore();
      await Promise.all(
        Array.from({ length: 100 }, (_, i) => store.put([chatMessage('room-a', i + 1)])),
      );
      const page = await store.page('room-a', { limit: 200 });
      assert.deepEqual(
        seqs(page),
        Array.from({ length: 100 }, (_, i) => i + 1),
      );
    });

    it('hands out copies: changing a result does not change the store', async () => {
      const store = await openStore();
      const message = chatMessage('room-a', 1);
      await store.put([message]);
      message.body = 'changed by the caller after put';
      const [first] = await store.page('room-a', { limit: 1 });
      assert.ok(first);
      first.body = 'changed by the caller after page';
      assert.equal(
        (await store.page('room-a', { limit: 1 }))[0]?.body,
        chatMessage('room-a', 1).body,
      );
    });

    it('rejects put after close with unavailable', async () => {
      const store = await openStore();
      await store.close();
      await rejectsWithCode(() => store.put([chatMessage('room-a', 1)]), 'unavailable');
    });

    if (options.durable) {
      it('keeps every message, upsert and clientMsgId across close and reopen', async () => {
        const store = await storeWith(6);
        await store.put([
          chatMessage('room-a', 6, { body: 'edited', fence: 2 }),
          chatMessage('room-b', 1),
        ]);
        await store.close();
        const reopened = await openStore();
        const page = await reopened.page('room-a', { limit: 10 });
        assert.deepEqual(seqs(page), [1, 2, 3, 4, 5, 6]);
        assert.equal(page[5]?.body, 'edited');
        assert.equal((await reopened.findByClientMsgId('room-a', 'client-room-a-4'))?.seq, 4);
        assert.equal((await reopened.latest(['room-b'])).get('room-b')?.seq, 1);
      });

      it('keeps the higher fence across close and reopen', async () => {
        const store = await openStore();
        await store.put([chatMessage('room-a', 1, { body: 'high', fence: 3 })]);
        await store.put([chatMessage('room-a', 1, { body: 'low', fence: 2 })]);
        await store.close();
        const reopened = await openStore();
        assert.equal((await reopened.page('room-a', { limit: 1 }))[0]?.body, 'high');
      });
    }
  });
}
