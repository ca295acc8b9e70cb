import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PNG } from 'pngjs';
import { drawBarChart } from '../bench/lib/chart.ts';
import {
  encodeHistogram,
  mergeHistograms,
  newLatencyHistogram,
  recordMs,
  summarize,
} from '../bench/lib/histogram.ts';
import { goLiveBytes } from '../bench/lib/inspector.ts';
import { runPaced } from '../bench/load/paced.ts';
import { parseProcStat, parseStatusRss, sampleProcess } from '../bench/lib/proc.ts';
import { promValue } from '../bench/lib/prom.ts';
import { renderTables } from '../bench/report.ts';

test('histograms from several workers merge into one with every value', () => {
  const fast = newLatencyHistogram();
  const slow = newLatencyHistogram();
  for (let i = 1; i <= 990; i++) {
    recordMs(fast, 1 + i / 1000); // 1.001 .. 1.99 ms
  }
  for (let i = 0; i < 10; i++) {
    recordMs(slow, 40);
  }
  const merged = mergeHistograms([encodeHistogram(fast), encodeHistogram(slow)]);
  const summary = summarize(merged);
  assert.equal(summary.count, 1000);
  assert.ok(summary.p50Ms > 1.4 && summary.p50Ms < 1.6, `p50 ${summary.p50Ms}`);
  // The ten slow values are the top 1%: p99 is still fast, p99.9 and max are the slow ones.
  assert.ok(summary.p99Ms < 2, `p99 ${summary.p99Ms}`);
  assert.ok(Math.abs(summary.p999Ms - 40) < 0.1, `p99.9 ${summary.p999Ms}`);
  assert.ok(Math.abs(summary.maxMs - 40) < 0.1);
});

test('latencies outside the trackable range are clamped, never lost', () => {
  const histogram = newLatencyHistogram();
  recordMs(histogram, -5);
  recordMs(histogram, 10 * 60_000);
  assert.equal(summarize(histogram).count, 2);
  assert.ok(summarize(histogram).maxMs >= 119_000);
});

test('an empty merge summarises as zeros', () => {
  assert.deepEqual(summarize(mergeHistograms([])), {
    count: 0,
    p50Ms: 0,
    p99Ms: 0,
    p999Ms: 0,
    maxMs: 0,
    meanMs: 0,
  });
});

test('/proc stat lines give user and system ticks even with spaces in the command name', () => {
  const line =
    '4242 (node (bench) worker) S 1 4242 4242 0 -1 4194560 9125 0 0 0 ' +
    '1234 567 0 0 20 0 11 0 12345 1234567 8901 18446744073709551615';
  assert.deepEqual(parseProcStat(line), { utimeTicks: 1234, stimeTicks: 567 });
  assert.throws(() => parseProcStat('garbage'), TypeError);
  assert.throws(() => parseProcStat('1 (x) S 1'), TypeError);
});

test('/proc status gives the resident set in bytes', () => {
  const status = 'Name:\tnode\nVmPeak:\t  999 kB\nVmRSS:\t   51200 kB\nThreads:\t11\n';
  assert.equal(parseStatusRss(status), 51200 * 1024);
  assert.throws(() => parseStatusRss('Name:\tnode\n'), TypeError);
});

test('this process can be sampled from /proc; an exited pid cannot', () => {
  const sample = sampleProcess(process.pid);
  assert.ok(sample && sample.cpuSeconds > 0 && sample.rssBytes > 10 * 2 ** 20);
  assert.equal(sampleProcess(2 ** 22 + 1), undefined);
});

test("a Go heap profile's MemStats give the live heap plus stacks", () => {
  const text = [
    'heap profile: 1: 2 [3: 4] @ heap/1048576',
    '# runtime.MemStats',
    '# Alloc = 999',
    '# HeapAlloc = 5000000',
    '# Stack = 262144 / 262144',
  ].join('\n');
  assert.equal(goLiveBytes(text), 5_000_000 + 262_144);
  assert.throws(() => goLiveBytes('heap profile: 0: 0 [0: 0]'), TypeError);
});

test('Prometheus text yields the named unlabelled sample only', () => {
  const text = [
    '# HELP atlas_process_nodejs_eventloop_lag_p99_seconds The 99th percentile.',
    '# TYPE atlas_process_nodejs_eventloop_lag_p99_seconds gauge',
    'atlas_process_nodejs_eventloop_lag_p99_seconds 0.0123',
    'atlas_process_nodejs_eventloop_lag_p90_seconds 0.01',
  ].join('\n');
  assert.equal(promValue(text, 'atlas_process_nodejs_eventloop_lag_p99_seconds'), 0.0123);
  assert.equal(promValue(text, 'missing_metric'), undefined);
});

test('the report puts ratios in ATLAS terms for both directions of better', () => {
  const table = renderTables({
    startedAt: 'now',
    quick: true,
    machine: {},
    versions: {},
    settings: {},
    results: {
      S2: {
        atlas: { p99Ms: 5, deliveriesPerCpuSecond: 30_000 },
        socketio: { p99Ms: 20, deliveriesPerCpuSecond: 10_000 },
        centrifugo: { error: 'did not start' },
      },
    },
  });
  assert.match(table, /\| S2 \| p99 \(ms\) \| 5 \| 20 \| n\/a \| 4\.00x \| n\/a \|/);
  assert.match(table, /\| S2 \| deliveries per CPU-second \| 30000 \| 10000 \| n\/a \| 3\.00x \|/);
});

test('charts are valid PNG files of the drawn size', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'bench-chart-')), 'chart.png');
  drawBarChart(
    {
      title: 'P99',
      series: ['ATLAS', 'PEER'],
      unit: 'MS',
      groups: [{ label: 'S2', values: [3, null] }],
    },
    file,
  );
  const png = PNG.sync.read(readFileSync(file));
  assert.equal(png.width, 900);
  assert.equal(png.height, 420);
  // Some pixel is the first series' colour: the bar was drawn.
  let found = false;
  for (let i = 0; i < png.data.length && !found; i += 4) {
    found = png.data[i] === 31 && png.data[i + 1] === 119 && png.data[i + 2] === 180;
  }
  assert.ok(found);
});

test('paced attempts never have more than the cap under way, and all of them run', async () => {
  let inFlight = 0;
  let most = 0;
  const seen = new Set<number>();
  await runPaced(60, { perSecond: 5_000, maxInFlight: 4, timeoutMs: 10_000 }, (index, settle) => {
    seen.add(index);
    inFlight++;
    most = Math.max(most, inFlight);
    setTimeout(
      () => {
        inFlight--;
        settle();
        settle(); // a second call is ignored
      },
      2 + (index % 3),
    );
  });
  assert.equal(seen.size, 60);
  assert.equal(inFlight, 0);
  assert.equal(most, 4, 'a fast rate fills the cap, and never more');
});

test('paced attempts keep to the rate when the cap is not reached', async () => {
  const startedAt: number[] = [];
  const t0 = performance.now();
  await runPaced(20, { perSecond: 200, maxInFlight: 100, timeoutMs: 10_000 }, (_index, settle) => {
    startedAt.push(performance.now() - t0);
    settle();
  });
  assert.equal(startedAt.length, 20);
  // 20 at 200 a second take about 100 ms; never all at once.
  assert.ok(startedAt.at(-1)! >= 80, `the last started at ${startedAt.at(-1)!.toFixed(0)} ms`);
});

test('paced attempts resolve at the timeout when some never settle', async () => {
  let started = 0;
  const t0 = performance.now();
  await runPaced(10, { perSecond: 1_000, maxInFlight: 3, timeoutMs: 150 }, () => {
    started++;
  });
  assert.equal(started, 3, 'nothing beyond the cap starts while the first ones hang');
  assert.ok(performance.now() - t0 >= 140);
});
