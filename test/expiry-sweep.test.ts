import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExpirySweep } from '../realtime/expiry-sweep.ts';

function sweepAt(startMs: number) {
  const clock = { ms: startMs };
  const expired: string[] = [];
  const sweep = new ExpirySweep<string>(
    (item) => expired.push(item),
    () => clock.ms,
  );
  return { clock, expired, sweep };
}

test('items are called back in the first sweep after their second, not before', () => {
  const { clock, expired, sweep } = sweepAt(100_000);
  sweep.add('a', 102);
  sweep.add('b', 101);
  sweep.add('c', 500);
  clock.ms = 101_999;
  sweep.sweep();
  assert.deepEqual(expired, ['b']);
  clock.ms = 102_000;
  sweep.sweep();
  assert.deepEqual(expired, ['b', 'a']);
  assert.equal(sweep.size, 1);
  sweep.remove('c', 500);
  assert.equal(sweep.size, 0);
});

test('a removed or rescheduled item is not called back at its old second', () => {
  const { clock, expired, sweep } = sweepAt(100_000);
  sweep.add('renewed', 101);
  sweep.add('closed', 101);
  sweep.remove('renewed', 101);
  sweep.add('renewed', 160);
  sweep.remove('closed', 101);
  clock.ms = 130_000;
  sweep.sweep();
  assert.deepEqual(expired, []);
  clock.ms = 160_000;
  sweep.sweep();
  assert.deepEqual(expired, ['renewed']);
});

test('a deadline already past is called back in the next sweep', () => {
  const { clock, expired, sweep } = sweepAt(100_000);
  clock.ms = 200_000;
  sweep.add('late', 150);
  sweep.sweep();
  assert.deepEqual(expired, ['late']);
  sweep.remove('late', 150);
  assert.equal(sweep.size, 0);
});
