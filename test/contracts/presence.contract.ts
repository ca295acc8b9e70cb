import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Presence } from '../../shared/ports/presence.ts';
import { createContractClock, rejectsWithCode, uniqueNamespace } from './helpers.ts';
import type { ClockKind, ContractClock } from './helpers.ts';

export interface PresenceEnv {
  /** Keys no other test uses. */
  namespace: string;
  ttlMs: number;
  /** The test's clock; adapters that cannot take one use the real time (clock: 'real'). */
  now: () => number;
}

export interface PresenceContractOptions {
  clock: ClockKind;
  /** Connection TTL used by the tests. Default 10_000 with a manual clock, 500 with a real one. */
  ttlMs?: number;
}

/** The Presence contract. `open(env)` gives a fresh presence for one test. */
export function presenceContract(
  name: string,
  open: (env: PresenceEnv) => Promise<Presence>,
  options: PresenceContractOptions,
): void {
  const ttlMs = options.ttlMs ?? (options.clock === 'manual' ? 10_000 : 500);

  describe(`Presence contract: ${name}`, { timeout: 20_000 }, () => {
    let clock: ContractClock;
    let presence: Presence;

    beforeEach(async () => {
      clock = createContractClock(options.clock);
      presence = await open({ namespace: uniqueNamespace(), ttlMs, now: clock.now });
    });

    afterEach(async () => {
      await presence.close().catch(() => undefined);
    });

    async function onlineOf(...userIds: string[]): Promise<string[]> {
      return [...(await presence.online(userIds))].sort();
    }

    it('reports online and offline transitions across two connections', async () => {
      assert.equal(await presence.connect('alice', 'c1', 'node-1'), true, 'first connection');
      assert.equal(await presence.connect('alice', 'c2', 'node-2'), false, 'already online');
      assert.deepEqual(await onlineOf('alice'), ['alice']);
      assert.equal(await presence.disconnect('alice', 'c1'), false, 'c2 is still alive');
      assert.deepEqual(await onlineOf('alice'), ['alice']);
      assert.equal(await presence.disconnect('alice', 'c2'), true, 'last connection gone');
      assert.deepEqual(await onlineOf('alice'), []);
      assert.equal(await presence.connect('alice', 'c3', 'node-1'), true, 'online again');
    });

    it('answers false for connections it does not know', async () => {
      assert.equal(await presence.disconnect('nobody', 'c1'), false);
      await presence.connect('alice', 'c1', 'node-1');
      assert.equal(await presence.disconnect('alice', 'other'), false);
      assert.equal(await presence.disconnect('alice', 'c1'), true);
      assert.equal(await presence.disconnect('alice', 'c1'), false, 'disconnect is idempotent');
    });

    it('treats a repeated connect of one connection as the same connection', async () => {
      assert.equal(await presence.connect('alice', 'c1', 'node-1'), true);
      assert.equal(await presence.connect('alice', 'c1', 'node-1'), false);
      assert.equal(await presence.disconnect('alice', 'c1'), true);
    });

    it('answers online for the listed users only', async () => {
      await presence.connect('alice', 'c1', 'node-1');
      await presence.connect('bob', 'c2', 'node-1');
      assert.deepEqual(await onlineOf('alice', 'carol'), ['alice']);
      assert.deepEqual(await onlineOf(), []);
      assert.deepEqual(await onlineOf('alice', 'bob', 'carol'), ['alice', 'bob']);
    });

    it('expires connections that are not refreshed within the TTL', async () => {
      await presence.connect('alice', 'c1', 'node-1');
      await clock.advance(ttlMs * 0.5);
      assert.deepEqual(await onlineOf('alice'), ['alice']);
      await clock.advance(ttlMs * 0.5 + 50);
      assert.deepEqual(await onlineOf('alice'), []);
      assert.equal(await presence.connect('alice', 'c2', 'node-1'), true, 'online again');
    });

    it('keeps refreshed connections alive past the TTL', async () => {
      await presence.connect('alice', 'c1', 'node-1');
      await presence.connect('bob', 'c2', 'node-2');
      await clock.advance(ttlMs * 0.6);
      await presence.refresh('node-1', [{ userId: 'alice', connectionId: 'c1' }]);
      await clock.advance(ttlMs * 0.6);
      assert.deepEqual(await onlineOf('alice', 'bob'), ['alice'], 'node-2 never refreshed');
      await clock.advance(ttlMs * 0.5);
      assert.deepEqual(await onlineOf('alice', 'bob'), []);
    });

    it('hands out a user whose last connection expired once, and only that user', async () => {
      await presence.connect('alice', 'c1', 'node-dead');
      await presence.connect('bob', 'c2', 'node-live');
      await presence.connect('carol', 'c3', 'node-live');
      assert.equal(await presence.disconnect('carol', 'c3'), true);
      await clock.advance(ttlMs * 0.6);
      await presence.refresh('node-live', [{ userId: 'bob', connectionId: 'c2' }]);
      assert.deepEqual(await presence.lapsed(100), [], 'nobody has expired yet');
      await clock.advance(ttlMs * 0.6);
      assert.deepEqual(await presence.lapsed(100), ['alice'], 'carol went offline by disconnect');
      assert.deepEqual(await presence.lapsed(100), [], 'handed out once');
      assert.equal(await presence.disconnect('alice', 'c1'), false, 'already offline');
      assert.deepEqual(await onlineOf('alice', 'bob'), ['bob']);
    });

    it('does not hand out a user who came back before anyone asked', async () => {
      await presence.connect('alice', 'c1', 'node-dead');
      await clock.advance(ttlMs + 50);
      assert.equal(await presence.connect('alice', 'c2', 'node-live'), true, 'online again');
      assert.deepEqual(await presence.lapsed(100), []);
      assert.equal(await presence.disconnect('alice', 'c2'), true);
      await clock.advance(ttlMs + 50);
      assert.deepEqual(await presence.lapsed(100), [], 'the disconnect announced it');
    });

    it('hands out an expired user whose dead connection is disconnected late', async () => {
      await presence.connect('alice', 'c1', 'node-dead');
      await clock.advance(ttlMs + 50);
      assert.equal(
        await presence.disconnect('alice', 'c1'),
        false,
        'not this call that took her offline',
      );
      assert.deepEqual(await presence.lapsed(100), ['alice']);
    });

    it('hands out at most `limit` per call', async () => {
      for (const userId of ['u1', 'u2', 'u3']) {
        await presence.connect(userId, `c-${userId}`, 'node-dead');
      }
      await clock.advance(ttlMs + 50);
      const first = await presence.lapsed(2);
      assert.equal(first.length, 2);
      const rest = await presence.lapsed(2);
      assert.deepEqual([...first, ...rest].sort(), ['u1', 'u2', 'u3']);
    });

    it('rejects calls after close with unavailable', async () => {
      await presence.close();
      await rejectsWithCode(() => presence.online(['alice']), 'unavailable');
    });
  });
}
