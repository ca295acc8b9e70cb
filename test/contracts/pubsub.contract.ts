import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { PubSub } from '../../shared/ports/pubsub.ts';
import { delay, rejectsWithCode, uniqueNamespace, waitUntil } from './helpers.ts';

export interface PubSubContractOptions {
  /** Quiet time after which "nothing more arrives" is believed. Default 100. */
  settleMs?: number;
  /** How long to wait for a delivery before failing. Default 5000. */
  deliveryTimeoutMs?: number;
}

/**
 * The PubSub contract. `open(namespace)` connects one node to a backplane: instances opened with
 * the same namespace reach each other (like nodes sharing one Redis), other namespaces never.
 */
export function pubsubContract(
  name: string,
  open: (namespace: string) => Promise<PubSub>,
  options: PubSubContractOptions = {},
): void {
  const settleMs = options.settleMs ?? 100;
  const timeoutMs = options.deliveryTimeoutMs ?? 5_000;

  describe(`PubSub contract: ${name}`, { timeout: 20_000 }, () => {
    let namespace: string;
    let opened: PubSub[] = [];

    beforeEach(() => {
      namespace = uniqueNamespace();
    });

    afterEach(async () => {
      await Promise.allSettled(opened.map((pubsub) => pubsub.close()));
      opened = [];
    });

    /** A node on this test's backplane, recording what it receives. */
    async function node() {
      const pubsub = await open(namespace);
      opened.push(pubsub);
      const received: Array<[channel: string, payload: string]> = [];
      pubsub.onMessage((channel, payload) => {
        received.push([channel, payload]);
      });
      const payloads = (channel: string) =>
        received.filter(([c]) => c === channel).map(([, payload]) => payload);
      return { pubsub, received, payloads };
    }

    function waitForCount(received: readonly unknown[], count: number) {
      return waitUntil(`${count} payloads received`, () => received.length >= count, timeoutMs);
    }

    it('delivers to subscribed channels only, on every node', async () => {
      const publisher = await node();
      const subscriber = await node();
      await subscriber.pubsub.subscribe('room:a');
      await publisher.pubsub.subscribe('room:a');
      await publisher.pubsub.publish('room:b', 'not subscribed');
      await publisher.pubsub.publish('room:a', 'hello');
      await waitForCount(subscriber.received, 1);
      await waitForCount(publisher.received, 1);
      await delay(settleMs);
      assert.deepEqual(subscriber.received, [['room:a', 'hello']]);
      assert.deepEqual(publisher.received, [['room:a', 'hello']], 'a node hears its own publish');
    });

    it('keeps publish order per channel', async () => {
      const publisher = await node();
      const subscriber = await node();
      await subscriber.pubsub.subscribe('room:a');
      await subscriber.pubsub.subscribe('room:b');
      const expected = Array.from({ length: 50 }, (_, i) => String(i));
      const unawaited: Array<Promise<void>> = [];
      for (const payload of expected) {
        await publisher.pubsub.publish('room:a', payload);
        unawaited.push(publisher.pubsub.publish('room:b', payload));
      }
      await Promise.all(unawaited);
      await waitForCount(subscriber.received, 100);
      assert.deepEqual(subscriber.payloads('room:a'), expected);
      assert.deepEqual(subscriber.payloads('room:b'), expected);
    });

    it('stops delivery after unsubscribe', async () => {
      const publisher = await node();
      const subscriber = await node();
      await subscriber.pubsub.subscribe('room:a');
      await subscriber.pubsub.subscribe('room:sentinel');
      await publisher.pubsub.publish('room:a', 'before');
      await waitForCount(subscriber.received, 1);
      await subscriber.pubsub.unsubscribe('room:a');
      await publisher.pubsub.publish('room:a', 'after');
      await publisher.pubsub.publish('room:sentinel', 'done');
      await waitForCount(subscriber.received, 2);
      await delay(settleMs);
      assert.deepEqual(subscriber.payloads('room:a'), ['before']);
    });

    it('makes subscribe and unsubscribe idempotent', async () => {
      const publisher = await node();
      const subscriber = await node();
      await subscriber.pubsub.unsubscribe('room:never-subscribed');
      await subscriber.pubsub.subscribe('room:a');
      await subscriber.pubsub.subscribe('room:a');
      await publisher.pubsub.publish('room:a', 'once');
      await waitForCount(subscriber.received, 1);
      await delay(settleMs);
      assert.equal(subscriber.received.length, 1, 'subscribing twice delivers once');
      await subscriber.pubsub.unsubscribe('room:a');
      await subscriber.pubsub.unsubscribe('room:a');
      await publisher.pubsub.publish('room:a', 'gone');
      await delay(settleMs);
      assert.equal(subscriber.received.length, 1);
    });

    it('never calls a listener inside publish', async () => {
      const pubsub = await open(namespace);
      opened.push(pubsub);
      let publishing = false;
      const duringPublish: boolean[] = [];
      pubsub.onMessage(() => {
        duringPublish.push(publishing);
      });
      await pubsub.subscribe('room:a');
      publishing = true;
      const published = pubsub.publish('room:a', 'x');
      publishing = false;
      await published;
      await waitForCount(duringPublish, 1);
      assert.deepEqual(duringPublish, [false]);
    });

    it('isolates listeners: one throwing does not stop delivery', async () => {
      const pubsub = await open(namespace);
      opened.push(pubsub);
      const received: string[] = [];
      pubsub.onMessage(() => {
        throw new Error('listener bug');
      });
      pubsub.onMessage((_channel, payload) => {
        received.push(payload);
      });
      await pubsub.subscribe('room:a');
      await pubsub.publish('room:a', 'first');
      await pubsub.publish('room:a', 'second');
      await waitForCount(received, 2);
      assert.deepEqual(received, ['first', 'second']);
    });

    it('does not cross namespaces', async () => {
      const here = await node();
      const elsewhere = await open(uniqueNamespace());
      opened.push(elsewhere);
      await here.pubsub.subscribe('room:a');
      await elsewhere.publish('room:a', 'other backplane');
      await here.pubsub.publish('room:a', 'this backplane');
      await waitForCount(here.received, 1);
      await delay(settleMs);
      assert.deepEqual(here.payloads('room:a'), ['this backplane']);
    });

    it('rejects publish after close with unavailable', async () => {
      const pubsub = await open(namespace);
      await pubsub.close();
      await rejectsWithCode(() => pubsub.publish('room:a', 'late'), 'unavailable');
    });
  });
}
