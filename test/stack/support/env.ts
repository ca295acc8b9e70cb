/** Where the stack tests find the real servers (local/services/*.sh start them on these ports). */
export const DATABASE_URL =
  process.env.ATLAS_TEST_DATABASE_URL ?? 'postgres://atlas:atlas@127.0.0.1:55432/atlas';

export const REDIS_URL = process.env.ATLAS_TEST_REDIS_URL ?? 'redis://127.0.0.1:56379';

/** Reporter for adapters under test: failures are asserted through rejections, not logs. */
export function quiet(): void {}

/** p50 / p99 / max of some samples in milliseconds, for test diagnostics. */
export function summarize(samplesMs: readonly number[]): string {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  const fmt = (ms: number) => `${ms.toFixed(3)} ms`;
  return `n=${sorted.length} p50=${fmt(at(0.5))} p99=${fmt(at(0.99))} max=${fmt(sorted.at(-1) ?? 0)}`;
}
