import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { RateLimiter } from '../../shared/ports/cache.ts';
import type { ClockedEnv } from './cache.contract.ts';
import { createContractClock, rejectsWithCode, uniqueNamespace } from './helpers.ts';
import type { ClockKind, ContractClock } from './helpers.ts';

export interface RateLimiterContractOptions {
  clock: ClockKind;
  /** Window used by the tests. Default 1000 with a manual clock, 400 with a real one. */
  windowMs?: number;
}

/**
 * The RateLimiter contract: fixed windows that open at a key's first hit (INCR + PEXPIRE).
 * `open(env)` gives a fresh limiter for one test.
 */
export function rateLimiterContract(
  name: string,
  open: (env: ClockedEnv) => Promise<RateLimiter>,
  options: RateLimiterContractOptions,
): void {
  const windowMs = options.windowMs ?? (options.clock === 'manual' ? 1_000 : 400);
  const exact = options.clock === 'manual';

  describe(`RateLimiter contract: ${name}`, { timeout: 20_000 }, () => {
    let clock: ContractClock;
    let limiter: RateLimiter;
    let key: (name: string) => string;

    beforeEach(async () => {
      clock = createContractClock(options.clock);
      const namespace = uniqueNamespace();
      key = (name) => `${namespace}:${name}`;
      limiter = await open({ namespace, now: clock.now });
    });

    afterEach(async () => {
      await limiter.close().catch(() => undefined);
    });

    async function hits(name: string, count: number, limit: number) {
      const decisions = [];
      for (let i = 0; i < count; i++) {
        decisions.push(await limiter.hit(key(name), limit, windowMs));
      }
      return decisions;
    }

    it('allows `limit` hits per window, then refuses with retryAfterMs', async () => {
      const allowed = await hits('login', 3, 3);
      assert.deepEqual(
        allowed.map((d) => d.allowed),
        [true, true, true],
      );
      assert.ok(
        allowed.every((d) => d.retryAfterMs === 0),
        'allowed hits carry no delay',
      );
      await clock.advance(windowMs * 0.4);
      const refused = await limiter.hit(key('login'), 3, windowMs);
      assert.equal(refused.allowed, false);
      if (exact) {
        assert.equal(refused.retryAfterMs, windowMs * 0.6);
      } else {
        assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= windowMs * 0.6 + 50);
      }
    });

    it('opens a new window once the old one ended', async () => {
      await hits('login', 2, 2);
      assert.equal((await limiter.hit(key('login'), 2, windowMs)).allowed, false);
      await clock.advance(windowMs + 20);
      assert.equal((await limiter.hit(key('login'), 2, windowMs)).allowed, true);
    });

    it('counts keys independently', async () => {
      await hits('a', 1, 1);
      assert.equal((await limiter.hit(key('a'), 1, windowMs)).allowed, false);
      assert.equal((await limiter.hit(key('b'), 1, windowMs)).allowed, true);
    });

    it('forgets a key on reset', async () => {
      await hits('a', 2, 1);
      await limiter.reset(key('a'));
      await limiter.reset(key('never-hit'));
      assert.deepEqual(await limiter.hit(key('a'), 1, windowMs), {
        allowed: true,
        retryAfterMs: 0,
      });
    });

    it('rejects calls after close with unavailable', async () => {
      await limiter.close();
      await rejectsWithCode(() => limiter.hit(key('a'), 1, windowMs), 'unavailable');
    });
  });
}
