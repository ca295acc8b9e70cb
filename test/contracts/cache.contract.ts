import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Cache } from '../../shared/ports/cache.ts';
import { createContractClock, rejectsWithCode, uniqueNamespace } from './helpers.ts';
import type { ClockKind, ContractClock } from './helpers.ts';

export interface ClockedEnv {
  /** Keys no other test uses. */
  namespace: string;
  /** The test's clock; adapters that cannot take one use the real time (clock: 'real'). */
  now: () => number;
}

export interface CacheContractOptions {
  clock: ClockKind;
}

/** The Cache contract. `open(env)` gives a fresh cache for one test. */
export function cacheContract(
  name: string,
  open: (env: ClockedEnv) => Promise<Cache>,
  options: CacheContractOptions,
): void {
  describe(`Cache contract: ${name}`, { timeout: 20_000 }, () => {
    let clock: ContractClock;
    let cache: Cache;
    let key: (name: string) => string;

    beforeEach(async () => {
      clock = createContractClock(options.clock);
      const namespace = uniqueNamespace();
      key = (name) => `${namespace}:${name}`;
      cache = await open({ namespace, now: clock.now });
    });

    afterEach(async () => {
      await cache.close().catch(() => undefined);
    });

    it('misses unknown keys and returns what was set', async () => {
      assert.equal(await cache.get(key('a')), undefined);
      await cache.set(key('a'), 'one', 60);
      await cache.set(key('b'), '', 60);
      assert.equal(await cache.get(key('a')), 'one');
      assert.equal(await cache.get(key('b')), '', 'an empty string is a hit');
    });

    it('overwrites and deletes', async () => {
      await cache.set(key('a'), 'one', 60);
      await cache.set(key('a'), 'two', 60);
      assert.equal(await cache.get(key('a')), 'two');
      await cache.delete(key('a'));
      await cache.delete(key('never-set'));
      assert.equal(await cache.get(key('a')), undefined);
    });

    it('expires a key after its TTL', async () => {
      await cache.set(key('a'), 'one', 1);
      await clock.advance(500);
      assert.equal(await cache.get(key('a')), 'one');
      await clock.advance(600);
      assert.equal(await cache.get(key('a')), undefined);
    });

    it('restarts the TTL on overwrite', async () => {
      await cache.set(key('a'), 'one', 1);
      await clock.advance(700);
      await cache.set(key('a'), 'two', 1);
      await clock.advance(700);
      assert.equal(await cache.get(key('a')), 'two');
    });

    it('rejects calls after close with unavailable', async () => {
      await cache.close();
      await rejectsWithCode(() => cache.get(key('a')), 'unavailable');
    });
  });
}
