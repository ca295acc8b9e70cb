import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/**
 * Runs Cloudflare's workerd (the runtime of Cloudflare Workers, from the npm registry) on
 * loopback with one worker per bundle, each on a port of its own, and reports the URLs. The
 * workers may reach loopback addresses (the tests' PostgreSQL proxy) and nothing else is
 * configured for them.
 */
export interface WorkerSpec {
  name: string;
  /** An ES module bundle; the config is written beside it. */
  modulePath: string;
  bindings: Record<string, string>;
}

export interface RunningWorkerd {
  urls: Record<string, string>;
  /** What workerd printed, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** The path of the workerd executable (the package's main export; it ships no types). */
const workerdBinary = (createRequire(import.meta.url)('workerd') as { default: string }).default;

/** Recent enough for the Node built-ins the bundles import (nodejs_compat is on by default). */
const COMPATIBILITY_DATE = '2026-11-01';
const START_TIMEOUT_MS = 20_000;

export async function startWorkerd(workers: readonly WorkerSpec[]): Promise<RunningWorkerd> {
  const first = workers[0];
  if (!first) {
    throw new TypeError('startWorkerd: no workers');
  }
  const configPath = join(dirname(first.modulePath), 'workerd.capnp');
  await writeFile(configPath, capnpConfig(workers));
  const child = spawn(workerdBinary, ['serve', configPath, '--control-fd=3'], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  let printed = '';
  child.stdout?.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  try {
    const ports = await listeningPorts(child, workers.length);
    return {
      urls: Object.fromEntries(
        workers.map(({ name }) => [name, `http://127.0.0.1:${ports.get(name)}`]),
      ),
      output: () => printed,
      stop: () => stop(child),
    };
  } catch (error) {
    await stop(child);
    throw new Error(`workerd did not start: ${String(error)}\n${printed}`, { cause: error });
  }
}

/** Reads `{"event":"listen","socket":NAME,"port":N}` lines from the control pipe. */
function listeningPorts(child: ChildProcess, count: number): Promise<Map<string, number>> {
  const control = child.stdio[3] as Readable;
  const ports = new Map<string, number>();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out')), START_TIMEOUT_MS);
    child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
    createInterface({ input: control }).on('line', (line) => {
      const event = JSON.parse(line) as { event?: string; socket?: string; port?: number };
      if (event.event === 'listen' && event.socket && event.port) {
        ports.set(event.socket, event.port);
      }
      if (ports.size === count) {
        clearTimeout(timer);
        resolve(ports);
      }
    });
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Cap'n Proto text; JSON string literals are valid Cap'n Proto text literals for ASCII values. */
function capnpConfig(workers: readonly WorkerSpec[]): string {
  const quote = (text: string) => JSON.stringify(text);
  const services = workers.map(
    (worker) => `    (name = ${quote(worker.name)}, worker = .${workerConst(worker)}),`,
  );
  const sockets = workers.map(
    (worker) =>
      `    (name = ${quote(worker.name)}, address = "127.0.0.1:0", http = (), service = ${quote(worker.name)}),`,
  );
  const definitions = workers.map((worker) => {
    const bindings = Object.entries(worker.bindings).map(
      ([name, value]) => `    (name = ${quote(name)}, text = ${quote(value)}),`,
    );
    return [
      `const ${workerConst(worker)} :Workerd.Worker = (`,
      `  modules = [ (name = "worker", esModule = embed ${quote(basename(worker.modulePath))}) ],`,
      `  compatibilityDate = ${quote(COMPATIBILITY_DATE)},`,
      '  bindings = [',
      ...bindings,
      '  ],',
      '  globalOutbound = "loopback",',
      ');',
    ].join('\n');
  });
  return [
    'using Workerd = import "/workerd/workerd.capnp";',
    'const config :Workerd.Config = (',
    '  services = [',
    ...services,
    '    (name = "loopback", network = (allow = ["local"])),',
    '  ],',
    '  sockets = [',
    ...sockets,
    '  ],',
    ');',
    ...definitions,
    '',
  ].join('\n');
}

function workerConst(worker: WorkerSpec): string {
  return `${worker.name.replace(/\W/g, '')}Worker`;
}
