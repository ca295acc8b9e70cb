import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { collectGarbage } from './inspector.ts';

/** A server process the harness started; only these are ever signalled by the harness. */
export interface ServerProcess {
  name: string;
  port: number;
  child: ChildProcess;
  readonly pid: number;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface StartOptions {
  name: string;
  command: string;
  args: readonly string[];
  env: Record<string, string>;
  port: number;
  logFile: string;
  readyTimeoutMs?: number;
}

/** Starts a server, its output in `logFile`, and resolves once its port accepts connections. */
export async function startServer(options: StartOptions): Promise<ServerProcess> {
  mkdirSync(dirname(options.logFile), { recursive: true });
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const child = spawn(options.command, [...options.args], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const server: ServerProcess = {
    name: options.name,
    port: options.port,
    child,
    pid: child.pid ?? 0,
    stop: (signal = 'SIGTERM') => stopChild(child, signal),
  };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  while (!(await portAccepts(options.port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${options.name} did not start (see ${options.logFile})`);
    }
    await sleep(100);
  }
  return server;
}

/** Starts `count` servers one after another; if one fails, those already started are killed. */
export async function startAll(
  count: number,
  start: (index: number) => Promise<ServerProcess>,
): Promise<ServerProcess[]> {
  const servers: ServerProcess[] = [];
  try {
    for (let i = 0; i < count; i++) {
      servers.push(await start(i));
    }
  } catch (error) {
    await Promise.all(servers.map((s) => s.stop('SIGKILL')));
    throw error;
  }
  return servers;
}

/** The inspector port of the Node server listening on `port` (see inspectFlag). */
export function inspectorPort(port: number): number {
  return port + 10_000;
}

/** The parts of a system under test that only depend on its server processes. */
export function serverControls(servers: readonly ServerProcess[]) {
  return {
    async collectGarbage() {
      const live = await Promise.all(servers.map((s) => collectGarbage(inspectorPort(s.port))));
      return live.reduce((a, b) => a + b, 0);
    },
    endpoints: servers.map((s) => `ws://127.0.0.1:${s.port}`),
    servers: [...servers],
    kill: (node: number) => servers[node]!.stop('SIGKILL'),
    async stop() {
      await Promise.all(servers.map((s) => s.stop('SIGTERM')));
    },
  };
}

/**
 * Asks a child process to stop (a signal, or any `ask` such as an IPC message) and kills it
 * with SIGKILL if it has not exited within `graceMs`.
 */
export function stopChild(
  child: ChildProcess,
  ask: NodeJS.Signals | ((child: ChildProcess) => void),
  graceMs = 10_000,
): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    if (typeof ask === 'string') {
      child.kill(ask);
    } else {
      ask(child);
    }
  });
}

export function portAccepts(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
