import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What `local/stack.sh up` wrote to `.atlas-local/topology.json`. */
export interface Topology {
  frontUrl: string;
  caFile: string;
  runDir: string;
  haproxyStatsPort: number;
  redisPort: number;
  processes: Record<string, { port: number; pidFile: string; logFile: string }>;
}

const RUN_DIR = process.env.ATLAS_LOCAL_DIR ?? join(process.cwd(), '.atlas-local');

/** The running topology; fails with a clear message when `npm run local:up` has not run. */
export function loadTopology(): Topology {
  const file = join(RUN_DIR, 'topology.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Topology;
  } catch {
    throw new Error(`no local topology at ${file}: run \`npm run local:up\` first`);
  }
}

export function processesOf(topology: Topology, role: string): string[] {
  return Object.keys(topology.processes)
    .filter((name) => name.startsWith(`${role}-`))
    .sort();
}

export async function pidOf(topology: Topology, name: string): Promise<number> {
  const entry = topology.processes[name];
  if (!entry) {
    throw new Error(`no process ${name} in the topology`);
  }
  return Number((await readFile(entry.pidFile, 'utf8')).trim());
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Signals one process of the topology and, for SIGKILL, waits until it is gone. */
export async function signal(topology: Topology, name: string, sig: NodeJS.Signals) {
  const pid = await pidOf(topology, name);
  process.kill(pid, sig);
  return pid;
}

/** `local/stack.sh start|stop NAME`: brings one process (or the Redis) back, or stops it. */
export async function stack(command: 'start' | 'stop', name: string): Promise<void> {
  await run('bash', ['local/stack.sh', command, name], { timeout: 180_000 });
}

/** Polls until `check` returns a value other than undefined/false, or fails with `what`. */
export async function until<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 20_000,
  pollMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) {
        return value;
      }
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last });
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** One sample of a Prometheus metric (summed over label sets) from a process's /metrics. */
export async function metric(topology: Topology, name: string, metricName: string) {
  const entry = topology.processes[name];
  if (!entry) {
    throw new Error(`no process ${name} in the topology`);
  }
  const response = await fetch(`http://127.0.0.1:${entry.port}/metrics`);
  const text = await response.text();
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${metricName} `) || line.startsWith(`${metricName}{`)) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      found = true;
    }
  }
  return found ? sum : undefined;
}

export async function readyStatus(topology: Topology, name: string): Promise<number> {
  const entry = topology.processes[name];
  const response = await fetch(`http://127.0.0.1:${entry?.port}/readyz`);
  await response.body?.cancel();
  return response.status;
}

/** Where a process's log ends now, so a test can read only what was written after. */
export async function logMark(topology: Topology, name: string): Promise<number> {
  const entry = topology.processes[name];
  return entry ? (await stat(entry.logFile)).size : 0;
}

export async function logSince(topology: Topology, name: string, mark: number): Promise<string> {
  const entry = topology.processes[name];
  if (!entry) {
    return '';
  }
  return (await readFile(entry.logFile)).subarray(mark).toString('utf8');
}
