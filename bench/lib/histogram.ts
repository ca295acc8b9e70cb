import hdr from 'hdr-histogram-js';

/** Latencies are recorded in microseconds, from 1 us to 2 minutes, with 3 significant digits. */
const HIGHEST_US = 120_000_000;

export type LatencyHistogram = ReturnType<typeof hdr.build>;

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  meanMs: number;
}

export function newLatencyHistogram(): LatencyHistogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
    bitBucketSize: 32,
    useWebAssembly: false,
  });
}

/** Records one latency given in milliseconds; out-of-range values are clamped, never dropped. */
export function recordMs(histogram: LatencyHistogram, ms: number): void {
  const us = Math.round(ms * 1000);
  histogram.recordValue(Math.min(HIGHEST_US, Math.max(1, us)));
}

/** The compact form workers send to the orchestrator. */
export function encodeHistogram(histogram: LatencyHistogram): string {
  return hdr.encodeIntoCompressedBase64(histogram);
}

/** One histogram holding every value of the encoded ones (workers' histograms merged). */
export function mergeHistograms(encoded: readonly string[]): LatencyHistogram {
  const merged = newLatencyHistogram();
  for (const text of encoded) {
    const part = hdr.decodeFromCompressedBase64(text, 32, false);
    merged.add(part);
    part.destroy();
  }
  return merged;
}

export function summarize(histogram: LatencyHistogram): LatencySummary {
  const ms = (us: number) => Math.round(us) / 1000;
  const count = histogram.totalCount;
  return {
    count,
    p50Ms: count ? ms(histogram.getValueAtPercentile(50)) : 0,
    p99Ms: count ? ms(histogram.getValueAtPercentile(99)) : 0,
    p999Ms: count ? ms(histogram.getValueAtPercentile(99.9)) : 0,
    maxMs: count ? ms(histogram.maxValue) : 0,
    meanMs: count ? Math.round(histogram.mean) / 1000 : 0,
  };
}
