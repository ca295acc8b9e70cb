import { readFileSync } from 'node:fs';

/**
 * Prints the functions with the most self time in a V8 .cpuprofile (from `node --cpu-prof`,
 * which the harness passes to ATLAS nodes when BENCH_CPU_PROF=1), grouped by function and file.
 * `node --import tsx bench/profile-summary.ts <file.cpuprofile> [top]`
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node --import tsx bench/profile-summary.ts <file.cpuprofile> [top]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as {
  nodes: ProfileNode[];
  samples: number[];
};
const hitsById = new Map<number, number>();
for (const id of profile.samples) {
  hitsById.set(id, (hitsById.get(id) ?? 0) + 1);
}
const byFunction = new Map<string, number>();
for (const node of profile.nodes) {
  const hits = hitsById.get(node.id) ?? 0;
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/main\//, '');
  const key = `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + hits);
}
const total = profile.samples.length;
const idle = [...byFunction]
  .filter(([key]) => key.startsWith('(idle)'))
  .reduce((a, [, h]) => a + h, 0);
console.log(`samples ${total}, busy ${(((total - idle) / total) * 100).toFixed(1)}%`);
for (const [key, hits] of [...byFunction]
  .filter(([k]) => !k.startsWith('(idle)'))
  .sort((a, b) => b[1] - a[1])
  .slice(0, Number(topArg ?? 30))) {
  console.log(`${((hits / (total - idle)) * 100).toFixed(1).padStart(5)}%  ${key}`);
}
