import { readFileSync } from 'node:fs';

/** Kernel clock ticks per second for /proc CPU times (USER_HZ; 100 on every Linux we run on). */
export const CLOCK_TICKS_PER_SECOND = 100;

export interface ProcessSample {
  pid: number;
  /** User plus system CPU time, in seconds. */
  cpuSeconds: number;
  rssBytes: number;
}

/**
 * User and system ticks from the text of /proc/<pid>/stat. The command name (field 2) may hold
 * spaces and parentheses, so fields are counted from the last ')'.
 */
export function parseProcStat(text: string): { utimeTicks: number; stimeTicks: number } {
  const end = text.lastIndexOf(')');
  if (end < 0) {
    throw new TypeError('not a /proc/<pid>/stat line');
  }
  // After ')' come field 3 (state) onwards; utime and stime are fields 14 and 15.
  const fields = text
    .slice(end + 1)
    .trim()
    .split(/\s+/);
  const utimeTicks = Number(fields[11]);
  const stimeTicks = Number(fields[12]);
  if (!Number.isFinite(utimeTicks) || !Number.isFinite(stimeTicks)) {
    throw new TypeError('/proc/<pid>/stat has no CPU times');
  }
  return { utimeTicks, stimeTicks };
}

/** Resident set size in bytes from the text of /proc/<pid>/status (its VmRSS line, in kB). */
export function parseStatusRss(text: string): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(text);
  if (!match?.[1]) {
    throw new TypeError('/proc/<pid>/status has no VmRSS line');
  }
  return Number(match[1]) * 1024;
}

/** CPU and memory of one live process; undefined once it has exited. */
export function sampleProcess(pid: number): ProcessSample | undefined {
  try {
    const { utimeTicks, stimeTicks } = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    const rssBytes = parseStatusRss(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { pid, cpuSeconds: (utimeTicks + stimeTicks) / CLOCK_TICKS_PER_SECOND, rssBytes };
  } catch {
    return undefined;
  }
}

/** CPU seconds and summed RSS of a set of processes (exited ones count as zero). */
export function sampleProcesses(pids: readonly number[]): { cpuSeconds: number; rssBytes: number } {
  let cpuSeconds = 0;
  let rssBytes = 0;
  for (const pid of pids) {
    const sample = sampleProcess(pid);
    cpuSeconds += sample?.cpuSeconds ?? 0;
    rssBytes += sample?.rssBytes ?? 0;
  }
  return { cpuSeconds, rssBytes };
}

/** The load average and CPU count, recorded with each run for context. */
export function machineLoad(): { loadAverage1m: number } {
  try {
    return { loadAverage1m: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]) };
  } catch {
    return { loadAverage1m: -1 };
  }
}
