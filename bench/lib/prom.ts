/**
 * The value of one unlabelled sample in Prometheus text exposition format, or undefined when the
 * metric is absent. Enough for the gauges the harness reads (event-loop delay).
 */
export function promValue(text: string, name: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) {
      continue;
    }
    const [key, value] = line.trim().split(/\s+/);
    if (key === name && value !== undefined) {
      const number = Number(value);
      return Number.isFinite(number) ? number : undefined;
    }
  }
  return undefined;
}

/** The highest event-loop delay p99 (ms) over the given /metrics URLs; undefined if none export it. */
export async function eventLoopP99Ms(
  metricsUrls: readonly string[],
  metricName: string,
): Promise<number | undefined> {
  let worst: number | undefined;
  for (const url of metricsUrls) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      const seconds = promValue(await response.text(), metricName);
      if (seconds !== undefined) {
        worst = Math.max(worst ?? 0, seconds * 1000);
      }
    } catch {
      // A node that does not answer has no value to give; the scenario reports its errors.
    }
  }
  return worst === undefined ? undefined : Math.round(worst * 100) / 100;
}
